"""The load driver: Locust in a subprocess (never imported here: its gevent patching must stay out of
the harness process), driven by the JSON plan, counted per second by the recorder in `locust_plan`.

Timing: `LoadRun.started_at` is the unix time at which Locust's shape clock started (offset 0 of the
stages), read from the record file. Measured here: it comes 0.7-0.85 s after the spawn (interpreter
and Locust start-up; up to ~1.8 s on a busy machine), and the first request reaches the target
30-100 ms after it. With a user's locustfile, `start_load` first loads it in a checking subprocess
(~0.7 s more).
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import LoadError
from harness.load.config import PLAN_ENV, LoadConfig, header_environment
from harness.load.record import LoadWindow, Record, count_window, read_record
from harness.procs import spawn, stop

logger = logging.getLogger(__name__)

__all__ = ["LoadRun", "LoadWindow", "Locustfile", "check_locustfile", "start_load"]

STOP_TIMEOUT_S = 2.0  # Locust --stop-timeout: in-flight requests finish (and are counted) at the end
_STARTUP_TIMEOUT_S = 30.0
_CHECK_TIMEOUT_S = 30.0
_FLUSH_DELAY_S = 0.1  # the recorder writes second S at S + 1.02 s: give it until S + 1.1
_SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the `harness` package
_SHAPE_FILE = Path(__file__).with_name("locust_plan.py")
_REQUESTS_FILE = Path(__file__).with_name("locust_requests.py")
_INSPECT_MARK = "HARNESS-LOCUSTFILE "
_INSPECT = f"""
import json, sys
from locust import TaskSet
from locust.util.load_locustfile import load_locustfile
users, shapes = load_locustfile(sys.argv[1])

def pace(cls):
    # constant_throughput(x) is constant_pacing(1 / x): its closure holds the seconds per task run
    wait = getattr(cls, "wait_time", None)
    if getattr(wait, "__qualname__", "") != "constant_pacing.<locals>.wait_time_func":
        return None
    cells = dict(zip(wait.__code__.co_freevars, wait.__closure__ or ()))
    seconds = cells["wait_time"].cell_contents if "wait_time" in cells else None
    return 1.0 / seconds if isinstance(seconds, (int, float)) and seconds > 0 else None

found = {{
    "users": sorted(users),
    "shapes": [type(s).__name__ for s in shapes],
    "paces": sorted({{str(pace(cls)) for cls in users.values()}}),
    "tasksets": sorted(f"{{name}}.{{t.__name__}}" for name, cls in users.items() for t in cls.tasks
                       if isinstance(t, type) and issubclass(t, TaskSet)),
}}
print({_INSPECT_MARK!r} + json.dumps(found))
"""


class LoadRun:
    """A running (or finished) Locust subprocess and its record file."""

    def __init__(
        self,
        config: LoadConfig,
        proc: subprocess.Popen[bytes],
        *,
        started_at: float,
        log_path: Path,
        record_path: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.started_at = started_at
        self.log_path = log_path
        self.record_path = record_path
        self._proc = proc
        self._clock = clock

    @property
    def pid(self) -> int:
        return self._proc.pid

    def window(self, start: float, end: float) -> LoadWindow:
        """Requests started in [start, end) (unix times); partial edge seconds count pro rata."""
        return self._window(read_record(self.record_path), start, end)

    def record(self) -> Record:
        """Everything the recorder has written so far."""
        return read_record(self.record_path)

    def newest_second(self, record: Record) -> float:
        """The end of the newest whole second the recorder has written (live reads stop there)."""
        end = float(math.floor(self._clock() - _FLUSH_DELAY_S))
        if record.stopped_at is not None:
            end = min(end, float(math.ceil(record.stopped_at)))
        return end

    def record_now(self) -> tuple[Record, float]:
        """The record so far and the end of its newest complete second (what live reads may count)."""
        record = self.record()
        return record, self.newest_second(record)

    def latest(self, seconds: float = 5.0) -> LoadWindow:
        """The `seconds` that end with the newest whole second the recorder has written (live progress)."""
        record = read_record(self.record_path)
        end = self.newest_second(record)
        return self._window(record, end - seconds, end)

    def _window(self, record: Record, start: float, end: float) -> LoadWindow:
        requested = self.config.mean_requested_rps(start - self.started_at, end - self.started_at)
        return count_window(record, start, end, requested)

    def is_running(self) -> bool:
        return self._proc.poll() is None

    def stop(self) -> None:
        """SIGINT: Locust stops its users (in-flight requests finish) and writes its last counts.

        Not SIGTERM: a headless Locust running a shape installs its SIGTERM handler only after the
        shape ends, so SIGTERM would kill it before the final counts are written. SIGKILL after
        STOP_TIMEOUT_S + 5 s if it hangs. Idempotent.
        """
        if self.is_running():
            logger.info("stopping Locust (pid %d)", self._proc.pid)
        stop(self._proc, timeout=STOP_TIMEOUT_S + 5.0, sig=signal.SIGINT)

    def wait(self, timeout_s: float) -> int:
        """Locust's exit code (0 also when requests failed: failures are counted, not fatal)."""
        try:
            return self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as err:
            raise LoadError(f"Locust (pid {self._proc.pid}) still runs after {timeout_s:g} s") from err


def start_load(config: LoadConfig, run_dir: Path) -> LoadRun:
    """Start Locust on the plan of `config`; return once its shape clock has started.

    Files go under run_dir/load/: plan.json, record.jsonl, locust.log. Raises LoadError, with
    Locust's log tail, when the locustfile is unusable or Locust exits or hangs before starting.
    """
    if config.locustfile is not None:
        found = check_locustfile(config.locustfile, open_model=config.arrival_rate is not None)
        if config.locustfile_throughput is None and found.throughput_per_user is not None:
            config = replace(config, locustfile_throughput=found.throughput_per_user)
    load_dir = run_dir / "load"
    load_dir.mkdir(parents=True, exist_ok=True)
    record_path, log_path, plan_path = (load_dir / n for n in ("record.jsonl", "locust.log", "plan.json"))
    record_path.unlink(missing_ok=True)
    plan_path.write_text(json.dumps(config.to_plan(record_path), indent=1))
    argv = _locust_argv(config)
    env = _child_env({PLAN_ENV: str(plan_path), **header_environment(config)})
    proc = spawn(argv, log_path=log_path, env=env, cwd=load_dir)
    logger.info("started Locust (pid %d): %s", proc.pid, " ".join(argv))
    try:
        started_at = _wait_started(proc, record_path, log_path)
    except BaseException:
        stop(proc, timeout=STOP_TIMEOUT_S + 5.0)
        raise
    return LoadRun(config, proc, started_at=started_at, log_path=log_path, record_path=record_path)


@dataclass(frozen=True)
class Locustfile:
    """What a user's locustfile defines, as Locust loads it."""

    users: tuple[str, ...]
    throughput_per_user: float | None
    """Its classes' own constant_throughput, when they all share one: the requested rate is then known."""


def check_locustfile(path: Path, open_model: bool = False) -> Locustfile:
    """The User classes of a user's locustfile, loaded by Locust in a subprocess.

    Raises LoadError when Locust cannot load it, when it has no User class, when it defines its
    own LoadTestShape (the harness drives the load with its shape, from the load profile), or, for an
    open model (`open_model`), when a task is a nested TaskSet (an arrival runs one task once).
    """
    if not path.is_file():
        raise LoadError(f"locustfile {path}: no such file")
    argv = [sys.executable, "-c", _INSPECT, str(path.resolve())]
    env = _child_env({})
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=_CHECK_TIMEOUT_S, env=env, cwd=path.parent
        )
    except subprocess.TimeoutExpired as err:
        raise LoadError(f"locustfile {path}: Locust did not load it within {_CHECK_TIMEOUT_S:g} s") from err
    found = [line for line in done.stdout.splitlines() if line.startswith(_INSPECT_MARK)]
    if done.returncode != 0 or not found:
        raise LoadError(f"locustfile {path}: Locust cannot load it:\n{_tail(done.stderr + done.stdout)}")
    classes = json.loads(found[-1][len(_INSPECT_MARK) :])
    if classes["shapes"]:
        raise LoadError(
            f"locustfile {path} defines its own LoadTestShape ({', '.join(classes['shapes'])}): the harness "
            "shapes the load from the load profile; remove the shape class from the file"
        )
    if not classes["users"]:
        raise LoadError(f"locustfile {path} defines no User class (a non-abstract subclass of locust.User)")
    if open_model and classes["tasksets"]:
        raise LoadError(
            f"locustfile {path}: an arrival load runs one task per arrival, but these tasks are nested "
            f"TaskSets: {', '.join(classes['tasksets'])}; use @task methods, or 'stages' instead of 'arrival'"
        )
    paces = classes["paces"]
    pace = float(paces[0]) if len(paces) == 1 and paces[0] != "None" else None
    return Locustfile(tuple(classes["users"]), pace)


def _locust_argv(config: LoadConfig) -> list[str]:
    users_file = config.locustfile.resolve() if config.locustfile is not None else _REQUESTS_FILE
    return [
        sys.executable, "-m", "locust",
        "-f", f"{_SHAPE_FILE},{users_file}",
        "--headless", "--host", config.host,
        "--loglevel", "WARNING", "--only-summary",
        "--exit-code-on-error", "0",
        "--stop-timeout", f"{STOP_TIMEOUT_S:g}",
    ]  # fmt: skip


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    # LOCUST_* variables of our own environment would silently change the run; drop them.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_SOURCE_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def _wait_started(proc: subprocess.Popen[bytes], record_path: Path, log_path: Path) -> float:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        started_at = read_record(record_path).started_at
        if started_at is not None:
            return started_at
        if proc.poll() is not None:
            raise LoadError(
                f"Locust exited with code {proc.returncode} before the load started; "
                f"{log_path} ends with:\n{_tail(log_path.read_text(errors='replace'))}"
            )
        time.sleep(0.02)
    raise LoadError(
        f"Locust did not start the load within {_STARTUP_TIMEOUT_S:g} s; "
        f"{log_path} ends with:\n{_tail(log_path.read_text(errors='replace'))}"
    )


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
