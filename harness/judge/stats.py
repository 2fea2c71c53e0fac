"""Deciding an error ratio against an objective with too little evidence in mind (pure).

A point estimate calls 3 errors in 6000 requests a pass of a 99.9 % objective; the Wilson score
interval says the evidence cannot tell yet. The verdict is PASS only when the whole interval lies
within the budget, FAIL only when the whole interval lies above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]

# bad may exceed total by float noise when both come from separate `increase` queries.
_RELATIVE_SLACK = 1e-9


@dataclass(frozen=True)
class RatioDecision:
    """The verdict on an error ratio, with the interval and the reason behind it."""

    verdict: Verdict
    low: float
    high: float
    reason: str


def wilson_interval(bad: float, total: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of the error ratio bad/total; (0.0, 1.0) when there are no events.

    Raises ValueError for counts that cannot be an error ratio (negative, NaN, bad > total).
    """
    _check_counts(bad, total)
    if not z > 0 or math.isinf(z):
        raise ValueError(f"z must be a positive finite number, got {z}")
    if total == 0:
        return (0.0, 1.0)
    bad = min(bad, total)
    p = bad / total
    z2 = z * z
    denominator = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def decide_error_ratio(
    bad: float,
    total: float,
    budget_ratio: Decimal | float,
    min_events: int,
    z: float = 1.96,
) -> RatioDecision:
    """PASS when the interval's upper bound <= budget, FAIL when its lower bound > budget, else INCONCLUSIVE.

    Fewer than min_events events never PASS: they FAIL when even the lower bound is above the budget,
    else they are INCONCLUSIVE. Counts that make no sense are INCONCLUSIVE.
    """
    budget = float(budget_ratio)
    if not 0.0 <= budget <= 1.0:
        raise ValueError(f"budget_ratio must lie in [0, 1], got {budget_ratio}")
    try:
        low, high = wilson_interval(bad, total, z)
    except ValueError as err:
        return RatioDecision("INCONCLUSIVE", 0.0, 1.0, f"unusable counts: {err}")
    counts = f"{_num(bad)} bad of {_num(total)} events"
    interval = f"interval [{_pct(low)}, {_pct(high)}] (Wilson, z={z:.2f})"
    if total < min_events:
        if total > 0 and low > budget:
            # Too few events to PASS, but even the interval's lower bound is above the budget: the
            # errors are plain, and more events could only narrow the interval around them.
            return RatioDecision("FAIL", low, high, f"{counts} (fewer than the {min_events} events needed to "
                                 f"pass): {interval} above the budget {_pct(budget)}")
        return RatioDecision(
            "INCONCLUSIVE", low, high, f"{counts}: fewer than the {min_events} events needed to decide"
        )
    if high <= budget:
        return RatioDecision("PASS", low, high, f"{counts}: {interval} within the budget {_pct(budget)}")
    if low > budget:
        return RatioDecision("FAIL", low, high, f"{counts}: {interval} above the budget {_pct(budget)}")
    return RatioDecision(
        "INCONCLUSIVE",
        low,
        high,
        f"{counts}: {interval} straddles the budget {_pct(budget)}; more events are needed to decide",
    )


def min_events_to_pass(budget_ratio: Decimal | float, z: float = 1.96) -> int:
    """Fewest events with zero errors whose interval's upper bound fits the budget.

    With zero errors the upper bound is z²/(N + z²), so N >= z² (1 - B) / B.
    """
    budget = float(budget_ratio)
    if not 0.0 < budget <= 1.0:
        raise ValueError(f"budget_ratio must lie in (0, 1], got {budget_ratio}")
    return max(1, math.ceil(z * z * (1 - budget) / budget))


def _check_counts(bad: float, total: float) -> None:
    for name, value in (("bad", bad), ("total", total)):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"{name} is {value}")
        if value < 0:
            raise ValueError(f"{name} is negative ({value})")
    if bad > total * (1 + _RELATIVE_SLACK):
        raise ValueError(f"bad ({bad}) exceeds total ({total})")


def _num(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.3f} %"
