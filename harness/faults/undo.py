"""Undo recipes: how every fault is reverted, live or by `harness rollback` after a crash.

A recipe is plain JSON. Secrets never go into it: faults configured from the experiment file (http,
process, chaostoolkit) are undone by re-reading that file, so `${TOKEN}` is resolved again from the
environment at rollback time instead of being written to disk.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from harness.errors import FaultError, SpecError
from harness.faults.base import Recipe
from harness.faults.types import registered
from harness.procs import pid_alive, same_process, start_time

log = logging.getLogger(__name__)


def proxy_fault(url: str, name: str) -> Recipe:
    return {"kind": "proxy-fault", "url": url, "name": name}


def resume(pids: list[int]) -> Recipe:
    return {"kind": "resume", "pids": pids, "start_times": [start_time(pid) for pid in pids]}


def kill_group(pids: list[int]) -> Recipe:
    return {"kind": "kill-group", "pids": pids, "start_times": [start_time(pid) for pid in pids]}


def _identified(recipe: Recipe) -> list[tuple[int, int | None]]:
    """(pid, start time) pairs; a recipe from before start times were recorded has None."""
    pids = [int(p) for p in recipe["pids"]]
    times = list(recipe.get("start_times") or [None] * len(pids))
    return list(zip(pids, times + [None] * (len(pids) - len(times)), strict=False))


def experiment_fault(experiment: Path, index: int, name: str) -> Recipe:
    return {"kind": "experiment-fault", "experiment": str(experiment), "fault_index": index, "fault_name": name}


def apply_undo(recipe: Recipe, environ: Mapping[str, str] | None = None) -> str:
    """Revert one fault. Safe to run twice. Returns what was done; raises FaultError on failure."""
    kind = recipe.get("kind")
    if kind == "proxy-fault":
        return _delete_proxy_fault(str(recipe["url"]), str(recipe["name"]))
    if kind == "resume":
        return _signal_all(_identified(recipe), signal.SIGCONT, "resumed")
    if kind == "kill-group":
        return _kill_groups(_identified(recipe))
    if kind == "experiment-fault":
        return _undo_from_experiment(Path(str(recipe["experiment"])), int(recipe["fault_index"]),
                                     recipe.get("fault_name"), environ)
    raise FaultError(f"unknown undo recipe {kind!r}")


def _delete_proxy_fault(url: str, name: str) -> str:
    try:
        response = requests.delete(f"{url}/faults/{name}", timeout=5)
    except requests.ConnectionError:
        return f"fault proxy at {url} is gone, and {name!r} with it"
    except requests.RequestException as err:
        raise FaultError(f"cannot remove {name!r} from the fault proxy at {url}: {err}") from err
    if response.status_code not in (200, 204, 404):
        raise FaultError(f"the fault proxy at {url} refused to remove {name!r}: HTTP {response.status_code}")
    return f"removed {name!r} from the fault proxy"


def _signal_all(pids: list[tuple[int, int | None]], sig: signal.Signals, verb: str) -> str:
    done = []
    for pid, started in pids:
        if not pid_alive(pid) or not same_process(pid, started):
            continue  # gone, or its PID now belongs to another process: never signal that one
        try:
            os.kill(pid, sig)
            done.append(pid)
        except ProcessLookupError:
            continue
        except PermissionError as err:
            raise FaultError(f"cannot signal PID {pid}: {err}") from err
    return f"{verb} PIDs {done}" if done else "nothing left to do (processes gone)"


def _kill_groups(pids: list[tuple[int, int | None]]) -> str:
    done = []
    for pid, started in pids:
        if not same_process(pid, started):
            continue  # the group leader is gone and its PID reused: never kill someone else's group
        try:
            os.killpg(pid, signal.SIGKILL)
            done.append(pid)
        except ProcessLookupError:
            continue
    return f"stopped process groups {done}" if done else "nothing left to do (processes gone)"


def _undo_from_experiment(path: Path, index: int, name: object, environ: Mapping[str, str] | None) -> str:
    from harness.spec.loader import parse_model, read
    from harness.spec.models import Experiment

    try:
        fault = parse_model(read(path), Experiment, environ).faults[index]
    except (SpecError, IndexError) as err:
        # one unreadable fault must not stop `harness rollback` from undoing the others
        raise FaultError(f"cannot re-read fault {index} of {path} to undo it ({err}): restore the file and "
                         "export the variables it uses, then run `harness rollback` again") from err
    if name is not None and fault.name != name:
        # the file changed since the run: never run another fault's stop
        raise FaultError(f"fault {index} of {path} is now {fault.name!r}, not {name!r}: the file was edited since "
                         "the run; restore it, then run `harness rollback` again")
    return undo_fault(fault, path.parent)


def undo_fault(fault: object, cwd: Path) -> str:
    """The stop of a fault configured in the experiment (http, process, chaostoolkit, registered types)."""
    from harness.spec.faults import ChaosToolkit, HttpFault, ProcessFault

    if isinstance(fault, HttpFault):
        return http_call(fault.stop, f"{fault.name} stop")
    if isinstance(fault, ProcessFault):
        return run_argv(fault.stop, fault.timeout, f"{fault.name} stop", cwd)
    if isinstance(fault, ChaosToolkit) and fault.rollback is not None:
        return run_activity(fault.rollback, f"{fault.name} rollback")
    registered_type = registered(str(getattr(fault, "type", "")))
    if registered_type is not None and registered_type.stop is not None:
        return registered_type.stop(fault, cwd)
    return "nothing to undo"


def undo_live(recipe: Recipe, fault: object | None, cwd: Path | None) -> str:
    """Revert during a run: faults from the experiment use the fault as loaded, not the file as it is
    now (it may have been edited since the run started); everything else replays its recipe."""
    if recipe.get("kind") == "experiment-fault" and fault is not None and cwd is not None:
        return undo_fault(fault, cwd)
    return apply_undo(recipe)


def shown_url(url: str) -> str:
    """A URL as it may appear in logs, results and the journal: no credentials, no query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def http_call(call: Any, what: str) -> str:
    try:
        response = requests.request(call.method, call.url, headers=call.headers, json=call.body,
                                    timeout=call.timeout)
    except requests.RequestException as err:
        raise FaultError(f"{what}: {call.method} {shown_url(call.url)} failed: {type(err).__name__}") from err
    if response.status_code not in call.expect_status:
        raise FaultError(f"{what}: {call.method} {shown_url(call.url)} answered HTTP {response.status_code}, "
                         f"expected one of {list(call.expect_status)}")
    return f"{call.method} {shown_url(call.url)} → HTTP {response.status_code}"


def run_argv(argv: tuple[str, ...], timeout_s: float, what: str, cwd: Path) -> str:
    try:
        done = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError as err:
        raise FaultError(f"{what}: program {argv[0]!r} not found") from err
    except subprocess.TimeoutExpired as err:
        raise FaultError(f"{what}: {argv[0]} did not finish within {timeout_s:g}s") from err
    if done.returncode != 0:
        # its output is not shown: a command run with a token may print it (curl -v does)
        raise FaultError(f"{what}: {argv[0]} exited with {done.returncode}")
    return f"{argv[0]} exited 0"


def run_activity(activity: Mapping[str, Any], what: str) -> str:
    from chaoslib.activity import run_activity as ctk_run
    from chaoslib.exceptions import ActivityFailed

    try:
        result = ctk_run(dict(activity), {}, {})
    except ActivityFailed as err:
        raise FaultError(f"{what}: the Chaos Toolkit activity failed: {err}") from err
    except Exception as err:  # a provider's own exception: report it, never crash the run
        raise FaultError(f"{what}: the Chaos Toolkit activity raised {type(err).__name__}: {err}") from err
    log.debug("%s returned %r", what, result)
    return f"Chaos Toolkit activity {activity.get('name', '?')!r} ran"
