"""Reading the Locust side's record file (format in `locust_plan`) and counting requests in a window.

Pure apart from `read_record`, which reads the file once.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

DROPPED_REQUEST_NAME = "dropped (max_in_flight reached)"
"""Arrival mode: an arrival that found max_in_flight requests in flight, not sent, recorded as a failure."""


@dataclass(frozen=True)
class LoadWindow:
    """Client-side counts of requests STARTED in [start, end) (unix times).

    The record has whole-second resolution: a second only partly inside the window counts pro rata
    (its counts times the covered fraction of that second), and totals are rounded (half up) to integers
    at the end. When start and end are whole seconds nothing is apportioned and the counts are exact.
    `by_name` maps a request name to (requests, failures), each rounded the same way.

    `mean_response_s`: mean client response time of the requests started in the window (dropped
    arrivals, never sent, left out), None without any. `mean_users`: mean of the per-second user
    counts of the seconds the window touches, None when the record has none there.
    """

    start: float
    end: float
    requests: int
    failures: int
    achieved_rps: float
    requested_rps: float | None
    by_name: Mapping[str, tuple[int, int]]
    mean_response_s: float | None = None
    mean_users: float | None = None

    @property
    def dropped(self) -> int:
        """Arrivals not sent because max_in_flight requests were in flight (arrival mode)."""
        return self.by_name.get(DROPPED_REQUEST_NAME, (0, 0))[0]


@dataclass(frozen=True)
class WorkerEvent:
    """What the master wrote about one worker (distributed load): it said hello, was refused, or was lost."""

    kind: Literal["hello", "refused", "lost"]
    worker: str
    at: float
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """What the record file says so far."""

    started_at: float | None
    stopped_at: float | None
    counts: Mapping[int, Mapping[str, tuple[int, int]]]  # second -> name -> (requests, failures)
    users: Mapping[int, int]  # second -> users running at its start
    rt_sum_ms: Mapping[int, Mapping[str, float]] = field(default_factory=dict)  # second -> name -> sum
    within: Mapping[int, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    """second -> name -> threshold_key -> requests that succeeded within that latency bound."""
    workers: Mapping[int, int] = field(default_factory=dict)  # distributed: second -> workers connected
    worker_events: tuple[WorkerEvent, ...] = ()

    def workers_lost(self) -> tuple[WorkerEvent, ...]:
        return tuple(e for e in self.worker_events if e.kind == "lost")


def threshold_key(threshold_s: float) -> str:
    """How a client SLI latency bound is spelt in the record (`0.25` for 250ms)."""
    return f"{threshold_s:.6g}"


def parse_record(lines: Iterable[str]) -> Record:
    """Sum the delta lines per second and name; lines still being written (no newline) are skipped."""
    started_at: float | None = None
    stopped_at: float | None = None
    counts: dict[int, dict[str, tuple[int, int]]] = defaultdict(dict)
    users: dict[int, dict[str, int]] = defaultdict(dict)  # a single process has one "worker", ""
    workers: dict[int, int] = {}
    events: list[WorkerEvent] = []
    rt_sum_ms: dict[int, dict[str, float]] = defaultdict(dict)
    within: dict[int, dict[str, dict[str, int]]] = defaultdict(dict)
    for line in lines:
        if not line.endswith("\n"):
            continue
        item = json.loads(line)
        if "started_at" in item:
            started_at = item["started_at"] if started_at is None else started_at
        elif "stopped_at" in item:
            stopped_at = item["stopped_at"]
        elif "users" in item:
            users[int(item["second"])][str(item.get("worker", ""))] = int(item["users"])
        elif "workers" in item:
            workers[int(item["second"])] = int(item["workers"])
        elif "worker_lost" in item or "worker_refused" in item or "worker" in item:
            events.append(_worker_event(item))
        else:
            per_name = counts[int(item["second"])]
            old = per_name.get(item["name"], (0, 0))
            per_name[item["name"]] = (old[0] + int(item["requests"]), old[1] + int(item["failures"]))
            sums = rt_sum_ms[int(item["second"])]
            sums[item["name"]] = sums.get(item["name"], 0.0) + float(item.get("rt_sum_ms", 0.0))
            if "within" in item:
                bounds = within[int(item["second"])].setdefault(item["name"], {})
                for key, count in item["within"].items():
                    bounds[key] = bounds.get(key, 0) + int(count)
    return Record(started_at, stopped_at, dict(counts), {s: sum(u.values()) for s, u in users.items()},
                  dict(rt_sum_ms), dict(within), workers, tuple(events))


def _worker_event(item: Mapping[str, Any]) -> WorkerEvent:
    at = float(item.get("at", 0.0))
    if "worker_lost" in item:
        return WorkerEvent("lost", str(item["worker_lost"]), at, {"state": item.get("state")})
    if "worker_refused" in item:
        return WorkerEvent("refused", str(item["worker_refused"]), at, {"reason": item.get("reason")})
    detail = {k: item[k] for k in ("pid", "hostname", "skew_s") if k in item}
    return WorkerEvent("hello", str(item["worker"]), at, detail)


def read_record(path: Path) -> Record:
    if not path.exists():
        return Record(None, None, {}, {})
    with open(path, encoding="utf-8") as lines:
        return parse_record(lines)


def count_window(record: Record, start: float, end: float, requested_rps: float | None) -> LoadWindow:
    """Requests started in [start, end), partial edge seconds pro rata (see LoadWindow)."""
    if not end > start:
        raise ValueError(f"a load window needs end > start, got [{start}, {end})")
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    rt_ms, rt_requests = 0.0, 0.0
    users: list[int] = []
    for second in range(math.floor(start), math.ceil(end)):
        # the second in which Locust stopped holds requests of only its first part
        last = record.stopped_at if record.stopped_at is not None and second < record.stopped_at < second + 1 \
            else second + 1
        covered = min(end, last) - max(start, second)
        share = max(0.0, covered) / (last - second)
        if second in record.users:
            users.append(record.users[second])
        for name, (requests, failures) in record.counts.get(second, {}).items():
            totals[name][0] += requests * share
            totals[name][1] += failures * share
            if name != DROPPED_REQUEST_NAME:
                rt_requests += requests * share
                rt_ms += record.rt_sum_ms.get(second, {}).get(name, 0.0) * share
    all_requests = sum(t[0] for t in totals.values())
    return LoadWindow(
        start=start,
        end=end,
        requests=_round(all_requests),
        failures=_round(sum(t[1] for t in totals.values())),
        achieved_rps=all_requests / (end - start),
        requested_rps=requested_rps,
        by_name={name: (_round(t[0]), _round(t[1])) for name, t in sorted(totals.items())},
        mean_response_s=rt_ms / rt_requests / 1000.0 if rt_requests > 0 else None,
        mean_users=sum(users) / len(users) if users else None,
    )


def _round(count: float) -> int:
    # Half up (4.5 -> 5), unlike round()'s half to even; the 1e-9 absorbs float error in the shares.
    return math.floor(count + 0.5 + 1e-9)
