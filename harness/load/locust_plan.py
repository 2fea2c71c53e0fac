"""Locustfile side, loaded by Locust with `-f` (never imported by the harness process).

Adds to whatever user classes run: the harness's load shape (stages from the JSON plan in
$HARNESS_LOAD_PLAN), the wait time of the plan, and a recorder that appends per-second,
per-name request counts to the plan's record file as JSON lines:

- `{"started_at": T}`: unix time at which the shape's clock (offset 0) started;
- `{"second": S, "users": U}`: users running at the start of whole unix second S (in the open
  model: the arrivals in flight then);
- `{"second": S, "name": N, "requests": R, "failures": F, "rt_sum_ms": X, "rt_max_ms": Y}`: requests
  that STARTED in [S, S+1). These are deltas: a request that ends after its second was written
  adds another line for the same second, so a reader sums lines (and takes the max of maxima).
  With client SLI latency bounds in the plan, `"within": {"0.25": W}` also counts the requests that
  succeeded with a response time at or under each bound (seconds, keyed by `threshold_key`);
- `{"stopped_at": T}`: the test stopped (all in-flight requests are recorded before it).

Distributed (a master and workers, `locust_workers`): workers send these lines to the master, which
alone writes the file; a worker's users lines carry `"worker": ID`, and the master adds its own lines
about the workers (see `locust_workers`).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust import FastHttpUser, LoadTestShape, between, constant_throughput, events
from locust.clients import HttpSession
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.load.config import read_plan_from_env, shape_tick, stages_from_plan
from harness.load.locust_arrivals import ArrivalDispatcher
from harness.load.locust_workers import MasterLog, Sink, plan_fingerprint, say_hello, send_to_master
from harness.load.record import threshold_key

_PLAN = read_plan_from_env()
_RECORD_PATH = Path(_PLAN["record_path"])
_FLUSH_AFTER_SECOND_S = 0.02  # flush just after each whole second, once that second has no new starts
_ARRIVAL_STOP_S = 2.0  # as the driver's --stop-timeout: in-flight arrivals finish and are counted
_arrivals: ArrivalDispatcher | None = None  # the open model's dispatcher, made at init


def append_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
    if lines:
        with open(path, "a", encoding="utf-8") as out:
            out.write(lines)


def _to_file(records: list[dict[str, Any]]) -> None:
    append_records(_RECORD_PATH, records)


class HarnessShape(LoadTestShape):
    """Runs the plan's stages, repeating the last one, and stops Locust at run_s."""

    stages = stages_from_plan(_PLAN)
    run_s = float(_PLAN["run_s"])

    def reset_time(self) -> None:
        super().reset_time()  # type: ignore[no-untyped-call]
        # Locust calls this once when the shape starts: tie offset 0 to the wall clock.
        append_records(_RECORD_PATH, [{"started_at": time.time()}])
        if _arrivals is not None:
            _arrivals.start(self.run_s)

    def tick(self) -> tuple[int, float] | None:
        return shape_tick(self.stages, self.run_s, self.get_run_time())  # type: ignore[no-untyped-call]


class Recorder:
    """Per whole second of request start and per request name: count, failures, sum and max latency,
    and the successes within each client SLI latency bound."""

    def __init__(self, sink: Sink, thresholds_s: Iterable[float] = (), worker: str | None = None) -> None:
        self._sink = sink
        self._worker = worker  # a worker tags its users lines: the reader sums them across workers
        self._thresholds_ms = tuple((threshold_key(t), t * 1000.0) for t in thresholds_s)
        self._pending: dict[tuple[int, str], _Bucket] = {}

    def on_request(
        self,
        name: str,
        response_time: float,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        started = start_time if start_time is not None else time.time() - response_time / 1000.0
        bucket = self._pending.setdefault((int(started), name), _Bucket())
        bucket.requests += 1
        bucket.failures += exception is not None
        bucket.rt_sum_ms += response_time
        bucket.rt_max_ms = max(bucket.rt_max_ms, response_time)
        if exception is None:
            for key, bound_ms in self._thresholds_ms:
                if response_time <= bound_ms:
                    bucket.within[key] = bucket.within.get(key, 0) + 1

    def flush(self, before_second: float = float("inf")) -> None:
        """Append every pending second older than before_second."""
        done = sorted(key for key in self._pending if key[0] < before_second)
        lines = [self._line(key, self._pending.pop(key)) for key in done]
        if lines:
            self._sink(lines)

    def run_every_second(self, users: Callable[[], int]) -> None:
        while True:
            now = time.time()
            gevent.sleep(int(now) + 1 + _FLUSH_AFTER_SECOND_S - now)
            second = int(time.time())
            line: dict[str, Any] = {"second": second, "users": users()}
            if self._worker is not None:
                line["worker"] = self._worker
            done = sorted(key for key in self._pending if key[0] < second)
            self._sink([line, *(self._line(key, self._pending.pop(key)) for key in done)])

    def _line(self, key: tuple[int, str], bucket: _Bucket) -> dict[str, Any]:
        second, name = key
        line: dict[str, Any] = {
            "second": second,
            "name": name,
            "requests": bucket.requests,
            "failures": bucket.failures,
            "rt_sum_ms": round(bucket.rt_sum_ms, 3),
            "rt_max_ms": round(bucket.rt_max_ms, 3),
        }
        if self._thresholds_ms:
            line["within"] = {key: bucket.within.get(key, 0) for key, _ in self._thresholds_ms}
        return line


@dataclass(slots=True)
class _Bucket:
    """One second and name's counts while that second is still pending (mutable: it grows per request)."""

    requests: int = 0
    failures: int = 0
    rt_sum_ms: float = 0.0
    rt_max_ms: float = 0.0
    within: dict[str, int] = field(default_factory=dict)


def _wait_time(plan: dict[str, Any]) -> Callable[[Any], float] | None:
    wait = plan.get("wait")
    if wait is None:
        return None
    if "throughput" in wait:
        return staggered_throughput(float(wait["throughput"]))
    return between(float(wait["min"]), float(wait["max"]))


def staggered_throughput(per_user: float) -> Callable[[Any], float]:
    """Locust's constant_throughput with each user's schedule shifted by a random share of its period.

    constant_throughput ties a user's schedule to the moment it was spawned: users spawned in one batch
    fire together every period, and the client queues its own burst (measured: a paced 100 req/s from
    50 users showed a client p50 of 21-31 ms against 11-14 ms for the same server). The first wait of
    each user adds a uniform random part of one period, so requests arrive spread over the period and
    the rate is unchanged."""
    pace = constant_throughput(per_user)
    period = 1.0 / per_user

    def wait_time(user: Any) -> float:
        wait = pace(user)
        if not getattr(user, "_harness_staggered", False):
            user._harness_staggered = True
            shift = random.uniform(0.0, period)
            user._cp_last_wait_time += shift  # constant_pacing's own bookkeeping: the shift is a wait, not run time
            wait += shift
        return wait

    wait_time.__qualname__ = "staggered_throughput.<locals>.wait_time"
    return wait_time


def _apply_timeout(timeout_s: float, user_classes: Iterable[type[Any]]) -> None:
    """Bound every request: a request's own `timeout=` wins; an unanswered request becomes a failure."""
    original = HttpSession.request

    def request(self: HttpSession, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", timeout_s)
        return original(self, method, url, *args, **kwargs)

    HttpSession.request = request  # type: ignore[method-assign,assignment]
    for user_class in user_classes:
        if issubclass(user_class, FastHttpUser):
            user_class.network_timeout = user_class.connection_timeout = timeout_s


def _on_init(environment: Environment, **_: Any) -> None:
    global _arrivals
    _apply_timeout(float(_PLAN.get("timeout_s", 5.0)), environment.user_classes)
    arrival = _PLAN.get("arrival")
    if arrival is not None:
        _arrivals = ArrivalDispatcher(environment, float(arrival["rate"]), int(arrival["max_in_flight"]))
    wait_time = _wait_time(_PLAN)
    if wait_time is not None:  # a profile's explicit wait wins over the user classes' own
        for user_class in environment.user_classes:
            user_class.wait_time = wait_time
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        _init_master(environment, runner)
        return
    sink: Sink = _to_file
    worker = None
    if isinstance(runner, WorkerRunner):
        sink, worker = send_to_master(runner), runner.client_id
        gevent.spawn(say_hello, runner, plan_fingerprint(_PLAN))
    recorder = Recorder(sink, [float(t) for t in _PLAN.get("latency_thresholds_s", [])], worker)
    environment.events.request.add_listener(recorder.on_request)  # type: ignore[no-untyped-call]

    def on_stop(**_: Any) -> None:
        if _arrivals is not None:
            _arrivals.stop(_ARRIVAL_STOP_S)
        recorder.flush()
        if worker is None:
            _to_file([{"stopped_at": time.time()}])

    environment.events.test_stop.add_listener(on_stop)  # type: ignore[no-untyped-call]
    environment.events.quitting.add_listener(lambda **_: recorder.flush())  # type: ignore[no-untyped-call]

    def users() -> int:
        if _arrivals is not None:
            return _arrivals.in_flight
        return runner.user_count if runner is not None else 0

    gevent.spawn(recorder.run_every_second, users)


def _init_master(environment: Environment, runner: MasterRunner) -> None:
    """The master runs the shape and no users: it writes what its workers send, and stops last."""
    master = MasterLog(environment, runner, _to_file, plan_fingerprint(_PLAN))
    # A worker's final lines reach the master before its "stopped" message, and the master's test_stop
    # fires once every worker stopped: stopped_at is written after all of them.
    environment.events.test_stop.add_listener(  # type: ignore[no-untyped-call]
        lambda **_: _to_file([{"stopped_at": time.time()}]))
    gevent.spawn(master.run_every_second, _FLUSH_AFTER_SECOND_S)


events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
