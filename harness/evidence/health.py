"""Telemetry health of one SLI over one window (I/O): only the targets whose series the SLI reads count.

A target down elsewhere in the job is none of this SLI's business. For the SLI's own targets every
outage is weighed by what it can hide from the exact count (see `outages`): a note when nothing can
be missing, a bound on the missing events otherwise, which the judge uses to decide whether the
verdict could change.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.evidence.outages import (
    ExpectedDown,
    Outage,
    Points,
    find_outages,
    rate_before,
    target_of,
    unseen_events,
)
from harness.prom.client import PromClient, Series
from harness.promql import is_selector, raw_samples_query, window_literal

TARGET_LOOKBACK_S = 300.0  # a target down since before the window still has series this recent
_METRIC_IN_EXPRESSION = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=[{\[])")
_PROMQL_WORDS = frozenset({"sum", "rate", "increase", "by", "without", "on", "ignoring", "group_left",
                           "group_right", "count", "min", "max", "avg", "offset", "bool", "and", "or", "unless",
                           "irate", "delta", "idelta", "histogram_quantile", "label_replace", "vector"})


@dataclass(frozen=True)
class ExpectDown:
    """A fault's declaration that targets matching `matchers` are down while it is active."""

    matchers: Mapping[str, str]
    span: ExpectedDown


@dataclass(frozen=True)
class SliHealth:
    problems: tuple[str, ...] = ()
    """What keeps the phase from passing whatever the counts (warnings, unboundable outages)."""
    notes: tuple[str, ...] = ()
    missing: float = 0.0
    """At most this many events of the window may be missing from the counts."""
    missing_reasons: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()


def sli_health(client: PromClient, selectors: Sequence[str], total: str, start: float, end: float,
               interval_s: float, lookback_s: float, expected: Sequence[ExpectDown],
               fallback_rate: float) -> SliHealth:
    """Outages of the targets behind `selectors` in (start, end], each with what it can hide.

    `total` is the SLI's total side: the series whose samples bound the missing events. fallback_rate
    is the events per second assumed for a target whose own rate cannot be read.
    """
    targets = series_targets(client, selectors, start, end)
    if not targets:
        return SliHealth(notes=("the SLI's series carry no job/instance labels: health is judged from the "
                                "spacing of their own samples",), missing=0.0) if is_selector(total) else SliHealth()
    span = end - start + lookback_s
    up, warnings = _up_points(client, sorted({job for job, _ in targets}), span, end)
    exact = is_selector(total)
    by_target = _SeriesByTarget(client, total, span, end)
    problems = [f"warning: {w}" for w in warnings]
    notes: list[str] = []
    reasons: list[str] = []
    missing = 0.0
    share = fallback_rate / max(1, len(targets))
    for key in sorted(targets):
        name = key[1]
        labels, points = up.get(key, ({}, ()))
        from_up = bool(points)
        if not from_up:
            points = tuple((t, 1.0) for series in by_target.get(key) for t, _ in series) if exact else ()
        for outage in find_outages(name, points, start, end, interval_s, from_up):
            if not exact:
                problems.append(_unboundable(outage, start))
                continue
            series = by_target.get(key)
            rate = rate_before(series, outage.last_seen, share)
            faults = [e.span for e in expected if _matches(labels or {"job": key[0], "instance": name}, e.matchers)]
            unseen = unseen_events(outage, series, start, end, rate, faults, interval_s)
            if unseen.missing > 0:
                missing += unseen.missing
                reasons.append(unseen.reason)
            else:
                notes.append(unseen.reason)
    return SliHealth(tuple(problems), tuple(notes), missing, tuple(reasons), tuple(name for _, name in sorted(targets)))


def _unboundable(outage: Outage, start: float) -> str:
    state = "down" if outage.down else "not scraped"
    return (f"target {outage.target} {state} during the window: the SLI is a PromQL expression, so what the "
            "outage hides cannot be bounded (write the SLI as counter selectors for exact counting)")


def read_selectors(texts: Sequence[str | None]) -> list[str]:
    """The selectors whose series an SLI reads; for a full expression, its metrics by name."""
    found: list[str] = []
    for text in texts:
        if text is None:
            continue
        if is_selector(text):
            found.append(text)
            continue
        names = sorted(set(_METRIC_IN_EXPRESSION.findall(text)) - _PROMQL_WORDS)
        if names:
            found.append(f'{{__name__=~"{"|".join(names)}"}}')
    return found


def series_targets(client: PromClient, selectors: Sequence[str], start: float, end: float) -> set[tuple[str, str]]:
    """(job, instance) of every series the selectors match in [start - TARGET_LOOKBACK_S, end]."""
    window = window_literal(end - start + TARGET_LOOKBACK_S)
    found: set[tuple[str, str]] = set()
    for selector in selectors:
        answer = client.query(f"count by (job, instance) (last_over_time({selector.strip()}[{window}]))", at=end)
        found.update(key for sample in answer.vector if (key := target_of(sample.labels)) is not None)
    return found


def _up_points(client: PromClient, jobs: Sequence[str], span_s: float,
               end: float) -> tuple[dict[tuple[str, str], tuple[Mapping[str, str], Points]], tuple[str, ...]]:
    pattern = "|".join(re.escape(job) for job in jobs)
    answer = client.query(raw_samples_query(f'up{{job=~"{pattern}"}}', span_s), at=end)
    found: dict[tuple[str, str], tuple[Mapping[str, str], Points]] = {}
    for series in answer.matrix:
        key = target_of(series.labels)
        if key is not None:
            found[key] = (series.labels, series.points)
    return found, answer.warnings


class _SeriesByTarget:
    """The raw samples of the SLI's total, by target, read only when needed: for a target without `up`
    samples, or to bound what an outage hides. Without outages nothing is read."""

    def __init__(self, client: PromClient, selector: str, span_s: float, end: float) -> None:
        self._query = (client, selector, span_s, end)
        self._grouped: dict[tuple[str, str], list[Points]] | None = None

    def get(self, target: tuple[str, str]) -> list[Points]:
        if self._grouped is None:
            client, selector, span_s, end = self._query
            answer = client.query(raw_samples_query(selector, span_s), at=end)
            grouped: dict[tuple[str, str], list[Points]] = defaultdict(list)
            for series in answer.matrix:
                key = target_of(series.labels)
                if key is not None:
                    grouped[key].append(_finite(series))
            self._grouped = dict(grouped)
        return self._grouped.get(target, [])


def _finite(series: Series) -> Points:
    return tuple(p for p in series.points if p[1] == p[1] and abs(p[1]) != float("inf"))


def _matches(labels: Mapping[str, str], matchers: Mapping[str, str]) -> bool:
    return bool(matchers) and all(labels.get(k) == v for k, v in matchers.items())
