from __future__ import annotations

import math
from decimal import Decimal

import pytest

from harness.judge.stats import decide_error_ratio, min_events_to_pass, wilson_interval

BUDGET_999 = Decimal("1") - Decimal("0.999")


@pytest.mark.parametrize(
    ("bad", "total", "low_pct", "high_pct", "verdict"),
    [
        pytest.param(0, 6000, 0.0, 0.064, "PASS", id="no_errors_6000"),
        pytest.param(3, 6000, 0.017, 0.147, "INCONCLUSIVE", id="three_errors_6000"),
        pytest.param(120, 6000, 1.68, 2.39, "FAIL", id="two_percent_6000"),
    ],
)
def test_notes_table_for_99_9(bad: int, total: int, low_pct: float, high_pct: float, verdict: str) -> None:
    low, high = wilson_interval(bad, total)
    # The table rounds to its last printed digit.
    digits = 3 if low_pct < 1 else 2
    assert round(low * 100, digits) == low_pct
    digits = 3 if high_pct < 1 else 2
    assert round(high * 100, digits) == high_pct
    decision = decide_error_ratio(bad, total, BUDGET_999, min_events=100)
    assert decision.verdict == verdict
    assert (decision.low, decision.high) == (low, high)


def test_zero_errors_need_3838_events_to_pass_99_9() -> None:
    assert min_events_to_pass(BUDGET_999) == 3838
    assert wilson_interval(0, 3838)[1] <= 0.001 < wilson_interval(0, 3837)[1]
    assert decide_error_ratio(0, 3838, BUDGET_999, min_events=1).verdict == "PASS"
    assert decide_error_ratio(0, 3837, BUDGET_999, min_events=1).verdict == "INCONCLUSIVE"


def test_no_events_gives_the_whole_interval() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    decision = decide_error_ratio(0, 0, 0.001, min_events=0)
    assert decision.verdict == "INCONCLUSIVE"


def test_too_few_events_is_inconclusive_even_when_clean() -> None:
    decision = decide_error_ratio(0, 50_000, 0.001, min_events=60_000)
    assert decision.verdict == "INCONCLUSIVE"
    assert "fewer than the 60000 events" in decision.reason


@pytest.mark.parametrize(("bad", "total", "verdict"), [
    (80, 93, "FAIL"),          # plain errors: more events could only narrow the interval around them
    (0, 93, "INCONCLUSIVE"),   # clean but too few: never PASS
    (1, 93, "INCONCLUSIVE"),   # the interval reaches under the budget
])
def test_too_few_events_never_pass_but_plain_errors_fail(bad: int, total: int, verdict: str) -> None:
    decision = decide_error_ratio(bad, total, 0.01, min_events=100)
    assert decision.verdict == verdict
    assert "fewer than the 100 events" in decision.reason


def test_reason_gives_the_numbers() -> None:
    decision = decide_error_ratio(3, 6000, BUDGET_999, min_events=100)
    assert decision.reason == (
        "3 bad of 6000 events: interval [0.017 %, 0.147 %] (Wilson, z=1.96) straddles the budget "
        "0.100 %; more events are needed to decide"
    )


def test_interval_contains_the_point_estimate_and_stays_in_bounds() -> None:
    for bad, total in [(1, 1), (5, 10), (1, 3), (999, 1000), (0.5, 7.25)]:
        low, high = wilson_interval(bad, total)
        assert 0.0 <= low <= bad / total <= high <= 1.0


def test_all_failures_fail() -> None:
    assert decide_error_ratio(1000, 1000, 0.01, min_events=10).verdict == "FAIL"


@pytest.mark.parametrize(
    ("bad", "total", "reason"),
    [
        pytest.param(math.nan, 100, "bad is nan", id="nan_bad"),
        pytest.param(1, math.inf, "total is inf", id="inf_total"),
        pytest.param(-1, 100, "bad is negative", id="negative_bad"),
        pytest.param(101, 100, "bad (101) exceeds total (100)", id="bad_over_total"),
    ],
)
def test_unusable_counts_are_inconclusive(bad: float, total: float, reason: str) -> None:
    decision = decide_error_ratio(bad, total, 0.001, min_events=1)
    assert decision.verdict == "INCONCLUSIVE"
    assert reason in decision.reason
    with pytest.raises(ValueError, match=r"total|bad"):
        wilson_interval(bad, total)


def test_float_noise_on_bad_over_total_is_tolerated() -> None:
    low, high = wilson_interval(100.00000000001, 100.0)
    assert 0.96 < low < high == pytest.approx(1.0)


def test_budget_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match="budget_ratio"):
        decide_error_ratio(0, 100, 1.5, min_events=1)
