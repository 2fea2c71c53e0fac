"""Evidence queries: the calls that count events in Prometheus (their PromQL is built by `harness.promql`).

Every query of one verdict is pinned to a time, never "now": the window's end (`time=end`), or, for the
raw samples of a window longer than an hour, each chunk's end (all of them past, so nothing changes).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from harness.errors import EvidenceError
from harness.evidence.counting import Count, Tally, increase_count, series_key, tallied, tally_samples
from harness.prom.client import PromClient, Series
from harness.promql import (
    DEFAULT_LOOKBACK_S,
    at_modifier,
    born_query,
    bounds_query,
    increase_query,
    is_selector,
    raw_samples_query,
    up_queries,
    window_literal,
)

log = logging.getLogger(__name__)

GAP_TOLERANCE = 0.8


@dataclass(frozen=True)
class ScrapeHealth:
    """Whether the targets of a job were up and scraped throughout a window."""

    targets: int
    down: tuple[str, ...]
    gaps: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return self.targets > 0 and not self.down and not self.gaps and not self.problems


# -- I/O -------------------------------------------------------------------------------------------


CHUNK_S = 3600.0
"""Exact counting reads a window longer than this in chunks of at most this length: one answer then
holds at most an hour of raw samples (at a 1 s scrape, 3600 per series), whatever the phase length,
and stays under Prometheus's limit on the samples one query may load (50 million by default)."""


def count_exact(client: PromClient, selector: str, start: float, end: float, lookback_s: float,
                chunk_s: float = CHUNK_S) -> Count:
    """Exact increase of a counter selector over (start, end], from the raw samples.

    lookback_s (e.g. 3 scrape intervals, at least 5 s) lets each series' baseline sample before start
    be found; a series without a sample in [start - lookback, start] counts as born in the window.

    A window longer than chunk_s is read in consecutive chunks, each series' tally carried across
    their edges (see `tally_samples`): the count is the same, and only one chunk's samples are held at a
    time. Within `client.memo()` the count is computed once per (selector, window).
    """
    _check_window(start, end)
    if lookback_s <= 0:
        raise ValueError(f"lookback_s must be positive, got {lookback_s}")
    if not chunk_s > 0:
        raise ValueError(f"chunk_s must be positive, got {chunk_s}")
    return client.remembered(("count_exact", selector.strip(), start, end, lookback_s, chunk_s),
                             lambda: _count_chunks(client, selector, start, end, lookback_s, chunk_s))


def _count_chunks(client: PromClient, selector: str, start: float, end: float, lookback_s: float,
                  chunk_s: float) -> Count:
    tallies: dict[frozenset[tuple[str, str]], Tally] = {}  # by all labels: two metrics may share the rest
    baselines: dict[frozenset[tuple[str, str]], float] | None = None
    warnings: list[str] = []
    for low, high in chunks(start, end, chunk_s):
        answer = client.read(raw_samples_query(selector, high - low + lookback_s), at=high)
        if answer.result_type != "matrix":
            return Count(None, "exact-samples", 0, problems=(f"unexpected result type {answer.result_type}",))
        warnings += [f"warning: {w}" for w in answer.warnings if f"warning: {w}" not in warnings]
        for series in answer.matrix:
            key = frozenset(series.labels.items())
            tally = tallies.get(key)
            if tally is None and _needs_baseline(series, start, lookback_s):
                baselines = _baselines(client, selector, start, end) if baselines is None else baselines
                tally = Tally(series.labels, baselines.get(series_key(series.labels)))
            tallies[key] = tally_samples(tally or Tally(series.labels), series.points, low, high,
                                         opening=key not in tallies)
    if not tallies:
        return Count(None, "exact-samples", 0, problems=("no samples", *warnings))
    count = tallied(list(tallies.values()), start, end)
    return replace(count, problems=count.problems + tuple(warnings)) if warnings else count


def chunks(start: float, end: float, chunk_s: float) -> list[tuple[float, float]]:
    """(start, end] as consecutive chunks of equal length, none longer than chunk_s."""
    parts = max(1, math.ceil((end - start) / chunk_s - 1e-9))
    edges = [start + (end - start) * i / parts for i in range(parts)] + [end]
    return list(itertools.pairwise(edges))


def _needs_baseline(series: Series, start: float, lookback_s: float) -> bool:
    """No sample in [start - lookback, start], and the lookback is shorter than Prometheus's 5 minutes:
    a baseline may lie further back (a scrape gap, a paused process), or the series was born."""
    return lookback_s < DEFAULT_LOOKBACK_S and not any(start - lookback_s <= t <= start for t, _ in series.points)


def _baselines(client: PromClient, selector: str, start: float,
               end: float) -> dict[frozenset[tuple[str, str]], float]:
    """The last value before start of every series, over Prometheus's 5-minute lookback, so a series
    without a sample in the short lookback is not taken as born."""
    query = f"last_over_time({selector.strip()}[{window_literal(DEFAULT_LOOKBACK_S)}] {at_modifier(start)})"
    found = client.query(query, at=end)
    return {series_key(s.labels): s.value for s in found.vector if math.isfinite(s.value)}


def count_increase(client: PromClient, selector_or_expr: str, start: float, end: float) -> Count:
    """`sum(increase(...))` over the window at time=end; for a selector, also which series were born in it."""
    _check_window(start, end)
    count = increase_count(client.query(increase_query(selector_or_expr, end - start), at=end))
    if not is_selector(selector_or_expr):
        return count
    born = client.query(born_query(selector_or_expr, start, end), at=end)
    labels = tuple(s.labels for s in born.vector)
    if labels:
        log.info(
            "%d series of %s were born in the window: increase() undercounts them",
            len(labels),
            selector_or_expr,
        )
    return replace(count, born_in_window=labels)


def histogram_bounds(
    client: PromClient, histogram: str, selector: str, start: float, end: float
) -> list[tuple[str, float]]:
    """The real `le` values (stored text and number) of `<histogram>_bucket<selector>`, sorted."""
    _check_window(start, end)
    answer = client.query(bounds_query(histogram, selector, end - start), at=end)
    bounds: dict[str, float] = {}
    for sample in answer.vector:
        text = sample.labels.get("le")
        if text is None:
            continue
        try:
            bounds[text] = float(text)
        except ValueError as err:
            raise EvidenceError(
                f"Prometheus at {client.url}: {histogram}_bucket has a non-numeric le label {text!r}"
            ) from err
    return sorted(bounds.items(), key=lambda item: (item[1], item[0]))


def scrape_health(
    client: PromClient, job_selector: str, start: float, end: float, scrape_interval_s: float
) -> ScrapeHealth:
    """Targets seen down (`up` == 0) or with missing samples (< 80 % of D/S) during the window.

    Targets are named by their `instance` label (their whole label set when they have none).
    """
    _check_window(start, end)
    if not scrape_interval_s > 0:
        raise ValueError(f"scrape_interval_s must be positive, got {scrape_interval_s}")
    worst_q, count_q = up_queries(job_selector, end - start)
    worst = client.query(worst_q, at=end)
    counts = client.query(count_q, at=end)
    problems = [f"warning: {w}" for w in (*worst.warnings, *counts.warnings)]
    expected = (end - start) / scrape_interval_s
    down = sorted(_target(s.labels) for s in worst.vector if not s.value >= 1)
    gaps = sorted(_target(s.labels) for s in counts.vector if not s.value >= GAP_TOLERANCE * expected)
    targets = len({_target(s.labels) for s in (*worst.vector, *counts.vector)})
    if targets == 0:
        problems.append(f"no up series for {job_selector} in the window: is the job scraped?")
    return ScrapeHealth(targets, tuple(down), tuple(gaps), tuple(problems))


def _target(labels: Mapping[str, str]) -> str:
    if "instance" in labels:
        return labels["instance"]
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__") + "}"


def _check_window(start: float, end: float) -> None:
    if not end > start:
        raise ValueError(f"the window must end after it starts, got ({start}, {end}]")
