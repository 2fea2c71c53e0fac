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
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust import FastHttpUser, LoadTestShape, between, constant_throughput, events
from locust.clients import HttpSession
from locust.env import Environment

from harness.load.config import read_plan_from_env, shape_tick, stages_from_plan
from harness.load.locust_arrivals import ArrivalDispatcher
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

    def __init__(self, path: Path, thresholds_s: Iterable[float] = ()) -> None:
        self._path = path
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
        append_records(self._path, (self._line(key, self._pending.pop(key)) for key in done))

    def run_every_second(self, users: Callable[[], int]) -> None:
        while True:
            now = time.time()
            gevent.sleep(int(now) + 1 + _FLUSH_AFTER_SECOND_S - now)
            second = int(time.time())
            append_records(self._path, [{"second": second, "users": users()}])
            self.flush(before_second=second)

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
        return constant_throughput(float(wait["throughput"]))
    return between(float(wait["min"]), float(wait["max"]))


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
    recorder = Recorder(_RECORD_PATH, [float(t) for t in _PLAN.get("latency_thresholds_s", [])])
    environment.events.request.add_listener(recorder.on_request)  # type: ignore[no-untyped-call]

    def on_stop(**_: Any) -> None:
        if _arrivals is not None:
            _arrivals.stop(_ARRIVAL_STOP_S)
        recorder.flush()
        append_records(_RECORD_PATH, [{"stopped_at": time.time()}])

    environment.events.test_stop.add_listener(on_stop)  # type: ignore[no-untyped-call]
    environment.events.quitting.add_listener(lambda **_: recorder.flush())  # type: ignore[no-untyped-call]
    runner = environment.runner

    def users() -> int:
        if _arrivals is not None:
            return _arrivals.in_flight
        return runner.user_count if runner is not None else 0

    gevent.spawn(recorder.run_every_second, users)


events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
