"""The error budget left over an SLO's period, read from Prometheus (the budget gate's evidence)."""

from __future__ import annotations

from decimal import Decimal

from harness.evidence.counting import increase_count
from harness.plan import SliQueries
from harness.prom.client import PromClient
from harness.promql import increase_query


def remaining_budget(client: PromClient, sli: SliQueries, period_s: float, budget: Decimal,
                     now: float) -> float | None:
    """The share of the period's error budget left, or None when the counts cannot be trusted.

    Fails closed like the verdicts: NaN, Inf, several series, warnings or a good count above the
    total give None, never a full budget. An empty bad (or good) side means no such event (preflight
    has already checked that its metric exists).
    """
    total = increase_count(client.query(increase_query(sli.total, period_s), at=now))
    side = sli.bad if sli.bad is not None else sli.good
    assert side is not None
    counted = increase_count(client.query(increase_query(side, period_s), at=now))
    if total.value is None or total.problems or total.value <= 0:
        return None
    no_events = counted.value is None and counted.problems == ("empty result",)
    if not no_events and (counted.value is None or counted.problems):
        return None
    value = counted.value or 0.0
    bad = value if sli.bad is not None else total.value - value
    if not -1e-9 <= bad <= total.value * (1 + 1e-9):
        return None
    return 1.0 - (max(bad, 0.0) / total.value) / float(budget)
