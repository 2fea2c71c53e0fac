"""Counting counter increases over an exact window (pure).

`increase()` extrapolates at the window edges and undercounts a counter born inside the window;
`x@t1 - x@t0` breaks on every reset, and a killed replica *is* a reset. exact_increase counts from
the raw samples instead.

Precision: with a scrape interval S, the count covers the increase between the last scrape at or
before `start` and the last scrape at or before `end`, so each edge of the window shifts by less
than S. Increases that happen between the last scrape of a series and its death (a replica killed
between two scrapes) are never seen by Prometheus and cannot be counted by anyone.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.prom.client import QueryAnswer, Series

EXACT = "exact-samples"
INCREASE = "increase"


@dataclass(frozen=True)
class Count:
    """How many events a counter saw in a window, and what might make that number wrong.

    value is None when there was no usable data at all: "no data" is never 0.
    """

    value: float | None
    method: str
    series: int
    born_in_window: tuple[Mapping[str, str], ...] = ()
    resets: int = 0
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class _SeriesCount:
    increase: float
    resets: int
    born: bool
    in_window: int


def exact_increase(series: Sequence[Series], start: float, end: float,
                   baselines: Mapping[frozenset[tuple[str, str]], float] | None = None) -> Count:
    """Sum over series of the increase in (start, end], counted from raw samples.

    Per series the baseline is its last sample at or before start; a series without one was born in
    the window and counts from 0. After a reset (the value drops) the new value is added whole: the
    counter restarted from 0. Samples after end are ignored. NaN or infinite samples make the count
    unusable (value None), as does a window without a single sample.
    """
    if not series:
        return Count(None, EXACT, 0, problems=("no samples",))
    bad = _non_finite(series, end)
    if bad:
        return Count(None, EXACT, 0, problems=tuple(bad))
    known = baselines or {}
    counts = [(s.labels, _count_one(s.points, start, end, known.get(series_key(s.labels)))) for s in series]
    used = [(labels, c) for labels, c in counts if c.in_window > 0]
    if not used:
        return Count(None, EXACT, 0, problems=(f"no samples in the window ({start:.3f}, {end:.3f}]",))
    return Count(
        value=sum(c.increase for _, c in used),
        method=EXACT,
        series=len(used),
        born_in_window=tuple(labels for labels, c in used if c.born),
        resets=sum(c.resets for _, c in used),
    )


def series_key(labels: Mapping[str, str]) -> frozenset[tuple[str, str]]:
    """A series' identity across functions that may or may not keep `__name__` (Prometheus 2 vs 3)."""
    return frozenset((k, v) for k, v in labels.items() if k != "__name__")


def _count_one(points: Sequence[tuple[float, float]], start: float, end: float,
               baseline: float | None = None) -> _SeriesCount:
    """baseline: the series' last value before start when it lies before the fetched samples (a
    series that was not scraped for a while is not born: it must not add its whole lifetime count)."""
    ordered = sorted(p for p in points if p[0] <= end)
    before = [v for t, v in ordered if t <= start]
    inside = [v for t, v in ordered if t > start]
    if not before and baseline is not None:
        before = [baseline]
    previous = before[-1] if before else 0.0
    total = 0.0
    resets = 0
    for value in inside:
        if value >= previous:
            total += value - previous
        else:
            resets += 1
            total += value
        previous = value
    return _SeriesCount(total, resets, born=not before, in_window=len(inside))


def _non_finite(series: Sequence[Series], end: float) -> list[str]:
    problems = []
    for s in series:
        for t, v in s.points:
            if t <= end and not math.isfinite(v):
                problems.append(f"{_name(v)} in result: {_show(s.labels)} at {t:.3f}")
                break
    return problems


def increase_count(answer: QueryAnswer) -> Count:
    """Read the answer of `sum(increase(...))` as a Count, failing closed on anything unusual."""
    warnings = tuple(f"warning: {w}" for w in answer.warnings)
    if answer.result_type == "scalar" and answer.scalar is not None:
        values = [answer.scalar]
    elif answer.result_type == "vector":
        values = [s.value for s in answer.vector]
    else:
        return Count(None, INCREASE, 0, problems=(f"unexpected result type {answer.result_type}", *warnings))
    if not values:
        return Count(None, INCREASE, 0, problems=("empty result", *warnings))
    if len(values) > 1:
        problem = f"{len(values)} series after sum (expected 1)"
        return Count(None, INCREASE, len(values), problems=(problem, *warnings))
    value = values[0]
    if not math.isfinite(value):
        return Count(None, INCREASE, 1, problems=(f"{_name(value)} in result", *warnings))
    if value < 0:
        return Count(None, INCREASE, 1, problems=(f"negative count {value:g}", *warnings))
    return Count(value, INCREASE, 1, problems=warnings)


def _name(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def _show(labels: Mapping[str, str]) -> str:
    name = labels.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}"


def cumulative_increase(series: Sequence[Series], start: float, times: Sequence[float]) -> list[float | None]:
    """exact_increase over (start, t] for each t of times (ascending), in one pass over the samples.

    Counted exactly as exact_increase does (baseline, births, resets); None at a time no series had
    a sample at or before, and everywhere when a sample is NaN or infinite (unusable, never 0).
    """
    if not series or (times and _non_finite(series, times[-1])):
        return [None] * len(times)
    totals: list[float | None] = [None] * len(times)
    for s in series:
        ordered = sorted(s.points)
        before = [v for t, v in ordered if t <= start]
        inside = [(t, v) for t, v in ordered if t > start]
        steps, previous, running = [], before[-1] if before else 0.0, 0.0
        for t, value in inside:
            running += value - previous if value >= previous else value
            previous = value
            steps.append((t, running))
        first_seen = ordered[0][0] if ordered else math.inf
        moments = [t for t, _ in steps]
        for i, at in enumerate(times):
            if at < first_seen:
                continue
            reached = bisect.bisect_right(moments, at)
            totals[i] = (totals[i] or 0.0) + (steps[reached - 1][1] if reached else 0.0)
    return totals
