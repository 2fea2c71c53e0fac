"""Reverting faults, live or by `harness rollback` after a crash, from their recipes (`harness.faults.recipes`).

A recipe of kind "experiment-fault" is undone by the `stop` its FaultType declares, with the fault
read again from the experiment file; every other kind is replayed here.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from pathlib import Path

import requests

from harness.errors import FaultError, SpecError
from harness.faults.base import FaultStop
from harness.faults.builtin.chaos_mesh import delete_resource
from harness.faults.recipes import Recipe, identified
from harness.faults.types import fault_type
from harness.procs import pid_alive, same_process
from harness.spec.faults import FaultBase
from harness.spec.models import Experiment
from harness.spec.parsing import parse_model, read


def apply_undo(recipe: Recipe, environ: Mapping[str, str] | None = None) -> str:
    """Revert one fault. Safe to run twice. Returns what was done; raises FaultError on failure."""
    kind = recipe.get("kind")
    if kind == "proxy-fault":
        return _delete_proxy_fault(str(recipe["url"]), str(recipe["name"]))
    if kind == "resume":
        return _signal_all(identified(recipe), signal.SIGCONT, "resumed")
    if kind == "kill-group":
        return _kill_groups(identified(recipe))
    if kind == "chaos-mesh":
        return delete_resource(recipe)
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


def undo_fault(fault: FaultBase, cwd: Path) -> str:
    """The `stop` its FaultType declares for a fault configured in the experiment (http, process, ...)."""
    declared = fault_type(fault.type)
    stop: FaultStop | None = declared.stop if declared is not None else None
    return stop(fault, cwd) if stop is not None else "nothing to undo"


def undo_live(recipe: Recipe, fault: FaultBase | None, cwd: Path | None) -> str:
    """Revert during a run: faults from the experiment use the fault as loaded, not the file as it is
    now (it may have been edited since the run started); everything else replays its recipe."""
    if recipe.get("kind") == "experiment-fault" and fault is not None and cwd is not None:
        return undo_fault(fault, cwd)
    return apply_undo(recipe)
