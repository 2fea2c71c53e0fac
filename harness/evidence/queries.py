"""Evidence queries: the calls that count events in Prometheus (their PromQL is built by `harness.promql`).

Every query of one verdict is evaluated at the window's end (`time=end`), never at "now".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from harness.errors import EvidenceError
from harness.evidence.counting import Count, exact_increase, increase_count, series_key
from harness.prom.client import PromClient, QueryAnswer
from harness.promql import (
    DEFAULT_LOOKBACK_S,
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


def count_exact(client: PromClient, selector: str, start: float, end: float, lookback_s: float) -> Count:
    """Exact increase of a counter selector over (start, end], from the raw samples.

    lookback_s (e.g. 3 scrape intervals, at least 5 s) lets each series' baseline sample before start
    be found; a series without a sample in [start - lookback, start] counts as born in the window.
    """
    _check_window(start, end)
    if lookback_s <= 0:
        raise ValueError(f"lookback_s must be positive, got {lookback_s}")
    answer = client.query(raw_samples_query(selector, end - start + lookback_s), at=end)
    if answer.result_type != "matrix":
        return Count(None, "exact-samples", 0, problems=(f"unexpected result type {answer.result_type}",))
    count = exact_increase(answer.matrix, start, end, _baselines(client, selector, answer, start, end, lookback_s))
    if answer.warnings:
        warnings = tuple(f"warning: {w}" for w in answer.warnings)
        count = replace(count, problems=count.problems + warnings)
    return count


def _baselines(client: PromClient, selector: str, answer: QueryAnswer, start: float, end: float,
               lookback_s: float) -> dict[frozenset[tuple[str, str]], float]:
    """The last value before start of series with no sample in the short lookback (a scrape gap, a
    paused process): looked up over Prometheus's 5-minute lookback so they are not taken as born."""
    gap = [s for s in answer.matrix if not any(start - lookback_s <= t <= start for t, _ in s.points)]
    if not gap or lookback_s >= DEFAULT_LOOKBACK_S:
        return {}
    query = f"last_over_time({selector.strip()}[{window_literal(DEFAULT_LOOKBACK_S)}] @ {start:.3f})"
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
