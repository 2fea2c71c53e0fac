"""Client-side SLIs (`sli.client`) counted from the load record (pure).

Exact, not pro rata: a window counts the requests STARTED in its whole seconds only, from the first
whole second at or after its start to the last one that ends by its end, so up to two seconds at the
edges of each window are left out rather than estimated. A request is good when it succeeded (and,
with a latency bound, answered within it); a failure or a timeout is bad. An arrival that the open
model dropped because `max_in_flight` requests were in flight was never sent and has no request name:
it counts as bad for every client SLI, since the system was too slow to take it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from harness.load.record import DROPPED_REQUEST_NAME, Record, threshold_key

METHOD = "client-record"


@dataclass(frozen=True)
class ClientSli:
    """Which requests a client SLI counts and when one is good."""

    requests: tuple[str, ...] | None = None
    """Request names counted; None: every request."""
    threshold_s: float | None = None
    """Good needs a success within this response time; None: a success."""

    def counts(self, name: str) -> bool:
        return name != DROPPED_REQUEST_NAME and (self.requests is None or name in self.requests)

    def describe(self) -> str:
        which = ", ".join(self.requests) if self.requests else "every request"
        good = f"succeeded within {self.threshold_s * 1000:g}ms" if self.threshold_s is not None else "succeeded"
        return f"{which} from the load record; good: {good}; dropped arrivals bad"


@dataclass(frozen=True)
class ClientSliCount:
    first_second: int
    end_second: int  # exclusive
    total: int
    good: int
    dropped: int
    problems: tuple[str, ...] = ()

    @property
    def bad(self) -> int:
        return self.total - self.good


def counted_seconds(start: float, end: float) -> range:
    """The whole seconds inside [start, end)."""
    return range(math.ceil(start), math.floor(end))


def per_second(record: Record, sli: ClientSli, seconds: range) -> tuple[list[tuple[int, int]], list[str]]:
    """(total, good) of each second, dropped arrivals included as bad; problems that make them unusable."""
    key = threshold_key(sli.threshold_s) if sli.threshold_s is not None else None
    rows: list[tuple[int, int]] = []
    problems: set[str] = set()
    for second in seconds:
        total = good = 0
        for name, (requests, failures) in record.counts.get(second, {}).items():
            if name == DROPPED_REQUEST_NAME:
                total += requests
                continue
            if not sli.counts(name):
                continue
            total += requests
            if key is None:
                good += requests - failures
                continue
            within = record.within.get(second, {}).get(name, {})
            if key not in within:
                problems.add(f"the load record has no latency counts for {sli.threshold_s:g}s: the load ran "
                             "without this client SLI's bound")
            good += within.get(key, 0)
        rows.append((total, good))
    return rows, sorted(problems)


def count_client_sli(record: Record, sli: ClientSli, start: float, end: float) -> ClientSliCount:
    """The client SLI over the whole seconds of [start, end) (see the module docstring)."""
    seconds = counted_seconds(start, end)
    problems = []
    if record.started_at is None:
        problems.append("the load record is empty: the load generator never started")
    if not seconds:
        problems.append(f"the window [{start:.3f}, {end:.3f}) holds no whole second of the load record")
    rows, row_problems = per_second(record, sli, seconds)
    problems += row_problems
    dropped = sum(record.counts.get(s, {}).get(DROPPED_REQUEST_NAME, (0, 0))[0] for s in seconds)
    total = sum(t for t, _ in rows)
    if sli.requests is not None and record.started_at is not None:
        problems += _unknown_names(record, sli.requests)
    return ClientSliCount(seconds.start, seconds.stop, total, sum(g for _, g in rows), dropped, tuple(problems))


def peak_error_ratio(record: Record, sli: ClientSli, start: float, end: float, window_s: float) -> float | None:
    """The highest error ratio over any trailing window of `window_s` whole seconds inside [start, end)."""
    rows, problems = per_second(record, sli, counted_seconds(start, end))
    width = max(1, math.floor(window_s))
    if problems or len(rows) < width:
        return None
    ratios = []
    total = sum(t for t, _ in rows[:width])
    good = sum(g for _, g in rows[:width])
    for index in range(width, len(rows) + 1):
        if total > 0:
            ratios.append((total - good) / total)
        if index < len(rows):
            total += rows[index][0] - rows[index - width][0]
            good += rows[index][1] - rows[index - width][1]
    return max(ratios) if ratios else None


def recent_error_ratio(record: Record, sli: ClientSli, end: float, window_s: float) -> float | None:
    """The error ratio of the requests started in the `window_s` whole seconds before `end` that have
    completed so far (live use: requests still in flight are not in the record yet); None without any."""
    count = count_client_sli(record, sli, end - window_s, end)
    if count.problems and count.total == 0:
        return None
    return count.bad / count.total if count.total else None


def _unknown_names(record: Record, names: Sequence[str]) -> list[str]:
    seen = {name for per_name in record.counts.values() for name in per_name} - {DROPPED_REQUEST_NAME}
    missing = [name for name in names if name not in seen]
    if not missing or not seen:
        return []
    return [f"no request named {', '.join(repr(n) for n in missing)} in the load record (its names: "
            f"{', '.join(sorted(seen))})"]
