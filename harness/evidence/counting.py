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


Point = tuple[float, float]


@dataclass(frozen=True)
class Tally:
    """One series' exact count so far. Counted over consecutive chunks of a window, this is all that
    crosses a chunk's edge, so the chunks' counts add up to the count of the whole window."""

    labels: Mapping[str, str]
    previous: float | None = None
    """Its value at the edge reached: its last sample so far, or a baseline found before the window.
    None while it has not been seen: its first sample then counts from 0 (born in the window)."""
    increase: float = 0.0
    resets: int = 0
    born: bool = False
    inside: int = 0
    """Samples counted inside the window."""
    bad: str | None = None
    """Its first NaN or infinite sample, described: it makes the count unusable."""


def exact_increase(series: Sequence[Series], start: float, end: float,
                   baselines: Mapping[frozenset[tuple[str, str]], float] | None = None) -> Count:
    """Sum over series of the increase in (start, end], counted from raw samples.

    Per series the baseline is its last sample at or before start; a series without one was born in
    the window and counts from 0. After a reset (the value drops) the new value is added whole: the
    counter restarted from 0. Samples after end are ignored. NaN or infinite samples make the count
    unusable (value None), as does a window without a single sample.

    baselines: the last value before start of series whose samples begin later (a series that was not
    scraped for a while is not born: it must not add its whole lifetime count).
    """
    if not series:
        return Count(None, EXACT, 0, problems=("no samples",))
    known = baselines or {}
    return tallied([tally_samples(Tally(s.labels, known.get(series_key(s.labels))), s.points, start, end,
                                  opening=True) for s in series], start, end)


def tally_samples(tally: Tally, points: Sequence[Point], start: float, end: float, *, opening: bool) -> Tally:
    """The tally with a series' samples in (start, end] added: one chunk of its window.

    opening: the series' first chunk. Its samples at or before start hold its baseline (the last of
    them), else the tally's `previous` is the baseline. In a later chunk those samples belong to the
    chunk before, which carried `previous` over. Samples after end are left to the next chunk.
    """
    ordered = sorted(points)
    low = bisect.bisect_right(ordered, start, key=_time)
    high = bisect.bisect_right(ordered, end, key=_time)
    seen = ordered[low - 1][1] if opening and low else tally.previous
    previous = 0.0 if seen is None else seen
    increase, resets = tally.increase, tally.resets
    for _, value in ordered[low:high]:
        if value >= previous:
            increase += value - previous
        else:
            resets += 1
            increase += value
        previous = value
    bad = tally.bad
    if bad is None and (not math.isfinite(increase) or (opening and not _finite(ordered[:low]))):
        bad = _first_non_finite(tally.labels, ordered[:high])  # a NaN or Inf inside makes `increase` one too
    counted = high - low
    return Tally(tally.labels, previous if counted or seen is not None else None, increase, resets,
                 tally.born or (seen is None and counted > 0), tally.inside + counted, bad)


def tallied(tallies: Sequence[Tally], start: float, end: float) -> Count:
    """The count of a window from its series' final tallies, listed in Prometheus's order of series."""
    ordered = sorted(tallies, key=lambda t: sorted(t.labels.items()))
    bad = [t.bad for t in ordered if t.bad is not None]
    if bad:
        return Count(None, EXACT, 0, problems=tuple(bad))
    used = [t for t in ordered if t.inside > 0]
    if not used:
        return Count(None, EXACT, 0, problems=(f"no samples in the window ({start:.3f}, {end:.3f}]",))
    return Count(
        value=sum(t.increase for t in used),
        method=EXACT,
        series=len(used),
        born_in_window=tuple(t.labels for t in used if t.born),
        resets=sum(t.resets for t in used),
    )


def series_key(labels: Mapping[str, str]) -> frozenset[tuple[str, str]]:
    """A series' identity across functions that may or may not keep `__name__` (Prometheus 2 vs 3)."""
    return frozenset((k, v) for k, v in labels.items() if k != "__name__")


def _time(point: Point) -> float:
    return point[0]


def _finite(points: Sequence[Point]) -> bool:
    return all(math.isfinite(v) for _, v in points)


def _non_finite(series: Sequence[Series], end: float) -> bool:
    return any(t <= end and not math.isfinite(v) for s in series for t, v in s.points)


def _first_non_finite(labels: Mapping[str, str], points: Sequence[Point]) -> str | None:
    for t, v in points:
        if not math.isfinite(v):
            return f"{_name(v)} in result: {_show(labels)} at {t:.3f}"
    return None


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
