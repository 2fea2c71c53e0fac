"""What a target's missing scrapes can hide from an exact count (pure).

A target that is down or not scraped for a while does not by itself make a count wrong: a counter
that continues across the gap (a paused process, a slow scrape) still gives the exact increase when
its next sample lands. Events are missing only where a series loses what it counted after its last
scrape (a reset across the gap: the process died) or where the window ends before the target is
back. This module finds the outages in `up` samples (or in the series' own samples when there is no
`up`) and bounds the events each one can hide: the target's rate before the outage times the time
its events went unseen.

Rules, each with its margin:
- a scrape is missed when no sample follows the previous one within GAP_FACTOR (1.5) intervals;
  real scrapes are spaced within milliseconds of the interval, so this never flips on jitter;
- a target is down while `up` is below 1;
- a target expected down by a fault (`expect_down`) serves nothing from the fault's start until
  two intervals after its end: its unseen events there are not missing.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

GAP_FACTOR = 1.5
RECOVERY_INTERVALS = 2.0

Points = Sequence[tuple[float, float]]

DECLARED_DOWN = "not counting the time its fault declared it down"
"""In an unseen-events reason: a fault's expect_down already explains the outage itself."""


@dataclass(frozen=True)
class Outage:
    """A span in which a target was down or not scraped: from its last good sample to its next."""

    target: str
    last_seen: float | None  # the last good sample before, None when none is known
    back: float | None  # the first good sample after, None when still out at the window's end
    down: bool  # True: `up` said down; False: samples were missing


@dataclass(frozen=True)
class ExpectedDown:
    """A fault declared to take a target down: it serves nothing in [start, end + 2 intervals]."""

    fault: str
    start: float
    end: float


@dataclass(frozen=True)
class Unseen:
    """The bound on events one outage can hide, and why."""

    outage: Outage
    missing: float
    reason: str


def find_outages(target: str, points: Points, start: float, end: float, interval_s: float,
                 from_up: bool) -> list[Outage]:
    """Outages overlapping (start, end] in a target's `up` samples (or its series' sample times).

    points may begin before start (the lookback), so an outage already under way is seen.
    """
    ordered = sorted(p for p in points if p[0] <= end)
    limit = GAP_FACTOR * interval_s
    outages: list[Outage] = []
    last_good: float | None = None
    out_since: float | None = None  # when the current outage began (None: none under way)
    down = False
    previous: float | None = None
    for t, value in ordered:
        good = value >= 1 if from_up else True
        if previous is not None and t - previous > limit and out_since is None:
            out_since, down = previous, False  # missed scrapes between previous and t
        if not good and out_since is None:
            out_since, down = t, True
        if good:
            if out_since is not None and t > start:
                outages.append(Outage(target, last_good, t, down))
            out_since = None
            last_good = t
        previous = t
    if previous is None:
        return [Outage(target, None, None, False)]
    if out_since is None and end - previous > limit:
        out_since, down = previous, False
    if out_since is not None:
        outages.append(Outage(target, last_good, None, down))
    return [o for o in outages if o.back is None or o.back > start]


def unseen_events(outage: Outage, series: Sequence[Points], start: float, end: float, rate: float,
                  expected: Sequence[ExpectedDown], interval_s: float) -> Unseen:
    """The events one outage can hide from the exact count of (start, end]."""
    seen_from = max(start, outage.last_seen) if outage.last_seen is not None else start
    if outage.back is not None and _continued(series, outage):
        span = f"from {_at(outage.last_seen, start)} to {_at(outage.back, start)}"
        return Unseen(outage, 0.0, f"{_what(outage)} {span}; its counters continued across the gap, so "
                      "nothing is missing")
    # A reset across the gap (the process restarted) loses what it counted after its last scrape; an
    # outage still under way at the end hides whatever the target did until then.
    until = min(outage.back, end) if outage.back is not None else end
    unexplained = _minus_expected(seen_from, until, expected, interval_s)
    missing = max(0.0, rate * unexplained)
    how = "restarted (a counter reset across the gap)" if outage.back is not None else "not back by the window's end"
    faults = sorted({e.fault for e in expected if e.start < until and e.end + RECOVERY_INTERVALS * interval_s
                     > seen_from})
    cause = f" during fault {', '.join(faults)}" if faults else ""
    return Unseen(outage, missing, f"{_what(outage)}{cause} from {_at(outage.last_seen, start)}, {how}: up to "
                  f"{missing:.0f} events unseen ({rate:.2f}/s x {unexplained:.1f}s since its last scrape"
                  + (f", {DECLARED_DOWN}" if faults else "") + ")")


def _continued(series: Sequence[Points], outage: Outage) -> bool:
    """Every series of the target has a sample after the outage, none below its value before it."""
    assert outage.back is not None
    for points in series:
        before = [v for t, v in points if outage.last_seen is not None and t <= outage.last_seen]
        after = [v for t, v in points if t >= outage.back]
        if not after:
            return False
        if before and after[0] < before[-1]:
            return False
    return bool(series)


def _minus_expected(begin: float, until: float, expected: Sequence[ExpectedDown], interval_s: float) -> float:
    """Seconds of [begin, until] outside every span in which a fault declared the target down."""
    spans = sorted((max(begin, e.start), min(until, e.end + RECOVERY_INTERVALS * interval_s)) for e in expected)
    covered, reach = 0.0, begin
    for low, high in spans:
        low = max(low, reach)
        if high > low:
            covered += high - low
            reach = high
    return max(0.0, until - begin - covered)


def rate_before(series: Sequence[Points], before: float | None, fallback: float) -> float:
    """Events per second of a target's series from their samples up to `before` (or all of them)."""
    increase, span = 0.0, 0.0
    for points in series:
        kept = sorted(p for p in points if before is None or p[0] <= before)
        if len(kept) < 2:
            continue
        for (_, a), (_, b) in itertools.pairwise(kept):
            increase += b - a if b >= a else b
        span = max(span, kept[-1][0] - kept[0][0])
    return increase / span if span > 0 else fallback


def target_of(labels: Mapping[str, str]) -> tuple[str, str] | None:
    """(job, instance) of a series, when it carries both."""
    job, instance = labels.get("job"), labels.get("instance")
    return (job, instance) if job is not None and instance is not None else None


def _what(outage: Outage) -> str:
    return f"target {outage.target} {'down' if outage.down else 'not scraped'}"


def _at(moment: float | None, start: float) -> str:
    """A moment relative to the window's start, as reports show phases."""
    if moment is None:
        return "before the window"
    return f"{moment - start:+.1f}s" if moment >= start else f"{start - moment:.1f}s before the window"
