"""The load driver: Locust in a subprocess (never imported here: its gevent patching must stay out of
the harness process), driven by the JSON plan, counted per second by the recorder in `locust_plan`.

Timing: `LoadRun.started_at` is the unix time at which Locust's shape clock started (offset 0 of the
stages), read from the record file. Measured here: it comes 0.7-0.85 s after the spawn (interpreter
and Locust start-up; up to ~1.8 s on a busy machine), and the first request reaches the target
30-100 ms after it. With a user's locustfile, `start_load` first loads it in a checking subprocess
(~0.7 s more).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import LoadError
from harness.load.config import PLAN_ENV, LoadConfig, header_environment
from harness.load.distributed import (
    LocalWorker,
    master_address,
    master_options,
    port_problem,
    spawn_workers,
    stop_workers,
    worker_hint,
)
from harness.load.record import LoadWindow, Record, count_window, read_record
from harness.procs import spawn, stop

logger = logging.getLogger(__name__)

__all__ = ["LoadRun", "LoadStop", "LoadWindow", "Locustfile", "check_locustfile", "start_load"]

STOP_TIMEOUT_S = 2.0  # Locust --stop-timeout: in-flight requests finish (and are counted) at the end
STOP_GRACE_S = 1.5  # after the stop timeout: Locust writes its last counts and exits (measured ~0.3 s)
WORKER_STOP_GRACE_S = 3.0  # a master waits for its workers' last counts; a worker for its "quit"
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


@dataclass(frozen=True)
class LoadStop:
    """How the load ended: `after_s` from the stop request until every Locust process had exited;
    `forced` names the processes that had to be killed (they ignored the stop)."""

    requested_at: float
    after_s: float
    forced: tuple[str, ...] = ()
    already_stopped: bool = False
    workers_gone: tuple[str, ...] = ()
    """Local workers whose process had already ended when the stop came (lost during the run)."""


class LoadRun:
    """A running (or finished) Locust subprocess (a master with workers when distributed) and its record."""

    def __init__(
        self,
        config: LoadConfig,
        proc: subprocess.Popen[bytes],
        *,
        started_at: float,
        log_path: Path,
        record_path: Path,
        clock: Callable[[], float] = time.time,
        workers: Sequence[LocalWorker] = (),
    ) -> None:
        self.config = config
        self.started_at = started_at
        self.log_path = log_path
        self.record_path = record_path
        self.workers = tuple(workers)
        self.stopped: LoadStop | None = None
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

    def exit_code(self) -> int | None:
        """Locust's (or its master's) exit code once it has ended, None while it runs."""
        return self._proc.poll()

    def stop(self) -> LoadStop:
        """SIGINT: Locust stops its users (in-flight requests finish) and writes its last counts.

        Not SIGTERM: a headless Locust running a shape installs its SIGTERM handler only after the
        shape ends, so SIGTERM would kill it before the final counts are written. A master stops its
        workers and tells them to quit. Whatever still runs STOP_GRACE_S after the stop timeout is
        killed, and `stopped.forced` says so: the load never outlives the run. Idempotent.
        """
        if self.stopped is not None:
            return self.stopped
        requested, requested_at = time.monotonic(), time.time()
        master_runs = self.is_running()  # a worker that ended after its master quit was not lost
        gone = tuple(f"worker {w.index} (pid {w.proc.pid}) {exit_description(w.proc.returncode)}"
                     for w in self.worker_exits() if master_runs or w.proc.returncode != 0)
        already = not self.is_running() and all(w.proc.poll() is not None for w in self.workers)
        if not already:
            logger.info("stopping Locust (pid %d%s)", self._proc.pid,
                        f" and {len(self.workers)} workers" if self.workers else "")
        forced = []
        deadline = requested + STOP_TIMEOUT_S + STOP_GRACE_S + (WORKER_STOP_GRACE_S if self.workers else 0.0)
        if _interrupt_and_wait(self._proc, deadline):
            forced.append(f"Locust{' master' if self.workers else ''} (pid {self._proc.pid})")
        for worker in self.workers:  # the master told them to quit; they get a moment, then a signal
            if _interrupt_and_wait(worker.proc, time.monotonic() + WORKER_STOP_GRACE_S, sig=None):
                forced.append(f"worker {worker.index} (pid {worker.proc.pid})")
        self.stopped = LoadStop(requested_at, round(time.monotonic() - requested, 3), tuple(forced), already, gone)
        if forced:
            logger.warning("the load did not stop when asked: killed %s after %.1f s", ", ".join(forced),
                           self.stopped.after_s)
        return self.stopped

    def worker_exits(self) -> list[LocalWorker]:
        """Local workers whose process has ended (before the load was stopped, a loss)."""
        return [w for w in self.workers if w.proc.poll() is not None]

    def wait(self, timeout_s: float) -> int:
        """Locust's exit code (0 also when requests failed: failures are counted, not fatal)."""
        try:
            return self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as err:
            raise LoadError(f"Locust (pid {self._proc.pid}) still runs after {timeout_s:g} s") from err


def start_load(config: LoadConfig, run_dir: Path) -> LoadRun:
    """Start Locust on the plan of `config`; return once its shape clock has started.

    Files go under run_dir/load/: plan.json, record.jsonl, locust.log (and worker-N.log). Raises
    LoadError, with Locust's log tail, when the locustfile is unusable, when workers do not come, or when
    Locust exits or hangs before starting; nothing is left running then.
    """
    if config.locustfile is not None:
        found = check_locustfile(config.locustfile, open_model=config.arrival_rate is not None)
        if config.locustfile_throughput is None and found.throughput_per_user is not None:
            config = replace(config, locustfile_throughput=found.throughput_per_user)
    load_dir = run_dir / "load"
    load_dir.mkdir(parents=True, exist_ok=True)
    record_path, log_path, plan_path = (load_dir / n for n in ("record.jsonl", "locust.log", "plan.json"))
    record_path.unlink(missing_ok=True)
    plan_path.write_text(json.dumps(plan_with_users_digest(config, record_path), indent=1))
    argv = _locust_argv(config)
    env = child_env({PLAN_ENV: str(plan_path), **header_environment(config)})
    if not config.distributed:
        proc = spawn([*argv, "--headless", *_HEADLESS], log_path=log_path, env=env, cwd=load_dir)
        logger.info("started Locust (pid %d): %s", proc.pid, " ".join(argv))
        workers: list[LocalWorker] = []
    else:
        host, port = master_address(config)
        problem = port_problem(host, port)
        if problem is not None:
            raise LoadError(f"the load master cannot listen: {problem}; choose another load.master port")
        proc = spawn([*argv, "--headless", *_HEADLESS, *master_options(config, host, port)],
                     log_path=log_path, env=env, cwd=load_dir)
        workers = []
        try:
            workers = spawn_workers(config.workers, argv, host, port, load_dir, env)
        except BaseException:
            stop(proc, timeout=STOP_TIMEOUT_S + 5.0)
            raise
        logger.info("started a Locust master (pid %d) on %s:%d and %d local workers (pids %s)%s", proc.pid, host,
                    port, len(workers), ", ".join(str(w.proc.pid) for w in workers) or "-",
                    f"; waiting for {config.remote_workers} remote workers: {worker_hint(host, port)}"
                    if config.remote_workers else "")
    try:
        started_at = _wait_started(proc, record_path, log_path, config, workers)
    except BaseException:
        stop(proc, timeout=STOP_TIMEOUT_S + 5.0)
        stop_workers(workers)
        raise
    return LoadRun(config, proc, started_at=started_at, log_path=log_path, record_path=record_path,
                   workers=workers)


def plan_with_users_digest(config: LoadConfig, record_path: Path) -> dict[str, object]:
    """The plan, with the digest of the user classes' file: a remote worker must run the same one."""
    users_file = config.locustfile if config.locustfile is not None else _REQUESTS_FILE
    plan = config.to_plan(record_path)
    plan["users_sha256"] = hashlib.sha256(users_file.read_bytes()).hexdigest()
    return plan


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
    env = child_env({})
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
    """What every Locust process of a run shares (a single process, the master or a worker)."""
    return locust_argv(config.locustfile, config.host)


def locust_argv(locustfile: Path | None, host: str) -> list[str]:
    users_file = locustfile.resolve() if locustfile is not None else _REQUESTS_FILE
    return [
        sys.executable, "-m", "locust",
        "-f", f"{_SHAPE_FILE},{users_file}",
        "--host", host,
        "--loglevel", "WARNING",
        "--exit-code-on-error", "0",
        "--stop-timeout", f"{STOP_TIMEOUT_S:g}",
    ]  # fmt: skip


_HEADLESS = ["--only-summary"]  # a single process or a master; a worker takes neither


def child_env(extra: dict[str, str]) -> dict[str, str]:
    # LOCUST_* variables of our own environment would silently change the run; drop them.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_SOURCE_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def _wait_started(proc: subprocess.Popen[bytes], record_path: Path, log_path: Path, config: LoadConfig,
                  workers: Sequence[LocalWorker]) -> float:
    timeout = _STARTUP_TIMEOUT_S + (config.workers_timeout_s if config.distributed else 0.0)
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        record = read_record(record_path)
        if record.started_at is not None:
            return record.started_at
        _refuse_workers(record, config)
        for worker in workers:
            if worker.proc.poll() is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=1.0)  # a master that gave up tells its workers to quit: its reason first
                if proc.poll() is not None:
                    raise LoadError(_exited_early(proc, log_path, config, read_record(record_path)))
                raise LoadError(f"load worker {worker.index} (pid {worker.proc.pid}) exited with code "
                                f"{worker.proc.returncode} before the load started; {worker.log_path} ends with:\n"
                                f"{_tail(worker.log_path.read_text(errors='replace'))}")
        if proc.poll() is not None:
            raise LoadError(_exited_early(proc, log_path, config, record))
        if config.distributed and time.monotonic() >= next_note:
            logger.info("waiting for load workers: %d of %d connected", _connected(record),
                        config.expected_workers)
            next_note = time.monotonic() + 5.0
        time.sleep(0.02)
    raise LoadError(
        f"Locust did not start the load within {timeout:g} s; "
        f"{log_path} ends with:\n{_tail(log_path.read_text(errors='replace'))}"
    )


def _connected(record: Record) -> int:
    hello = {e.worker for e in record.worker_events if e.kind == "hello"}
    return len(hello - {e.worker for e in record.worker_events if e.kind != "hello"})


def _refuse_workers(record: Record, config: LoadConfig) -> None:
    refused = [e for e in record.worker_events if e.kind == "refused"]
    if refused:
        raise LoadError(f"load worker {refused[0].worker} was refused: {refused[0].detail.get('reason')}")


def _exited_early(proc: subprocess.Popen[bytes], log_path: Path, config: LoadConfig, record: Record) -> str:
    log = log_path.read_text(errors="replace")
    if config.distributed and "Gave up waiting for workers" in log:
        return (f"only {_connected(record)} of {config.expected_workers} load workers connected within "
                f"{config.workers_timeout_s:g} s (load.workers_timeout); "
                + (f"start the remote ones with `{worker_hint(config.master_host, config.master_port)}` on their "
                   "machines" if config.remote_workers
                   else f"see the worker logs in {log_path.parent}"))
    return (f"Locust exited with code {proc.returncode} before the load started; "
            f"{log_path} ends with:\n{_tail(log)}")


def _interrupt_and_wait(proc: subprocess.Popen[bytes], deadline: float, sig: int | None = signal.SIGINT) -> bool:
    """Send sig (None: only wait) and wait until the deadline; then SIGKILL. True when it had to kill."""
    if proc.poll() is not None:
        return False
    if sig is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        return False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5.0)
        return True


def exit_description(code: int | None) -> str:
    if code is None:
        return "still runs"
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
