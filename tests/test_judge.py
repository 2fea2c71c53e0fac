"""Judging (pure): phase and SLO verdicts from counts, with the numbers of the SLO evidence notes."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from harness.evidence.counting import EXACT, INCREASE, Count
from harness.evidence.phase import ClientCounts, PhaseEvidence
from harness.judge.slo import _budget_share, budget_ratio, judge_phase, judge_slo, z_for
from harness.spec.models import EvidencePolicy, Hypothesis, InlineSLO

PERIOD = 30 * 86400.0
POLICY = EvidencePolicy()


def slo(objective: str = "99.9") -> InlineSLO:
    sli = {"ratio": {"bad": "errors_total", "total": "requests_total"}}
    return InlineSLO.model_validate({"name": "checkout", "objective": objective, "sli": sli})


def count(value: float | None, *problems: str, method: str = EXACT, **kwargs: Any) -> Count:
    return Count(value, method, 0 if value is None else 1, problems=problems, **kwargs)


def evidence(bad: float | None, total: float | None, phase: str = "fault", length: float = 600.0,
             **kwargs: Any) -> PhaseEvidence:
    return PhaseEvidence(phase, 1000.0, 1000.0 + length, total=count(total), bad=count(bad), **kwargs)


def hypothesis(**fields: Any) -> Hypothesis:
    return Hypothesis.model_validate({"slo": "checkout", **fields})


# -- the numbers of the notes --------------------------------------------------------------------------


def test_budget_ratio_is_exact() -> None:
    assert budget_ratio(slo("99.9")) == Decimal("0.001")
    assert budget_ratio(slo("99.5")) == Decimal("0.005")
    assert 1 - 0.999 != 0.001  # the float trap the Decimal avoids


def test_confidence_95_is_z_1_96() -> None:
    assert z_for(Decimal("95")) == pytest.approx(1.959964, abs=1e-6)


def test_120_bad_in_6000_over_600s_burns_exactly_20() -> None:
    judged = judge_phase(evidence(120, 6000), slo("99.9"), POLICY, judged=True)
    assert judged.burn_rate == 20.0  # not 19.999999999999982 (a float budget) nor 20.000000000002
    assert judged.budget_consumed == 20 * 600 / PERIOD
    assert judged.budget_consumed == pytest.approx(0.0046296, abs=1e-7)  # 0.463 % of the 30-day budget
    assert (judged.good, judged.bad, judged.total, judged.sli) == (5880, 120, 6000, 0.98)
    assert judged.verdict == "FAIL"
    assert judged.reason == (
        "120 bad of 6000 events: interval [1.675 %, 2.386 %] (Wilson, z=1.96) above the budget 0.100 %")
    assert judged.error_interval == pytest.approx((0.016753, 0.023862), abs=1e-6)


def test_good_counter_gives_the_same_numbers_as_bad() -> None:
    by_good = PhaseEvidence("fault", 0.0, 600.0, total=count(6000), good=count(5880))
    judged = judge_phase(by_good, slo("99.9"), POLICY, judged=True)
    assert (judged.bad, judged.burn_rate, judged.verdict) == (120, 20.0, "FAIL")


WITHIN = "(Wilson, z=1.96) within the budget 0.100 %"

PHASE_VERDICTS = [
    pytest.param(0, 6000, "PASS", f"0 bad of 6000 events: interval [0.000 %, 0.064 %] {WITHIN}", 0.0,
                 id="zero_errors"),
    pytest.param(3, 6000, "INCONCLUSIVE",
                 "3 bad of 6000 events: interval [0.017 %, 0.147 %] (Wilson, z=1.96) straddles the budget "
                 "0.100 %; more events are needed to decide", 0.5, id="three_in_6000"),
    pytest.param(0, 50, "INCONCLUSIVE", "0 bad of 50 events: fewer than the 100 events needed to decide", 0.0,
                 id="fewer_than_min_events"),
    pytest.param(0, 0, "INCONCLUSIVE", "0 bad of 0 events: fewer than the 100 events needed to decide", None,
                 id="no_events"),
]


@pytest.mark.parametrize(("bad", "total", "verdict", "reason", "burn"), PHASE_VERDICTS)
def test_phase_verdict(bad: float, total: float, verdict: str, reason: str, burn: float | None) -> None:
    judged = judge_phase(evidence(bad, total), slo("99.9"), POLICY, judged=True)
    assert (judged.verdict, judged.reason, judged.burn_rate) == (verdict, reason, burn)


def test_min_events_comes_from_the_policy() -> None:
    policy = EvidencePolicy(min_events=10_000)
    judged = judge_phase(evidence(0, 6000), slo("99.9"), policy, judged=True)
    assert judged.verdict == "INCONCLUSIVE"
    assert judged.reason == "0 bad of 6000 events: fewer than the 10000 events needed to decide"


# -- fail closed ---------------------------------------------------------------------------------------

NAN, INF = math.nan, math.inf

UNUSABLE = [
    pytest.param(count(0), count(None, "empty result", method=INCREASE),
                 "total: empty result; no data for total", id="total_empty"),
    pytest.param(count(0), count(None), "no data for total", id="total_none"),
    pytest.param(count(None, "no samples"), count(6000), "bad: no samples; no data for bad", id="bad_none"),
    pytest.param(count(0), count(NAN), "total is nan", id="total_nan"),
    pytest.param(count(INF), count(6000), "bad is inf", id="bad_inf"),
    pytest.param(count(7000), count(6000), "bad (7000) does not fit total (6000)", id="bad_above_total"),
    pytest.param(count(-1), count(6000), "bad (-1) does not fit total (6000)", id="negative_bad"),
    pytest.param(count(0), count(6000, "warning: query hit a partial response"),
                 "total: warning: query hit a partial response", id="count_with_problems"),
    pytest.param(count(0, "2 series after sum (expected 1)"), count(6000),
                 "bad: 2 series after sum (expected 1)", id="bad_with_problems"),
]


@pytest.mark.parametrize(("bad", "total", "reason"), UNUSABLE)
def test_unusable_counts_are_inconclusive(bad: Count, total: Count, reason: str) -> None:
    judged = judge_phase(PhaseEvidence("fault", 0.0, 600.0, total=total, bad=bad), slo(), POLICY, judged=True)
    assert (judged.verdict, judged.reason) == ("INCONCLUSIVE", reason)
    assert (judged.sli, judged.burn_rate, judged.budget_consumed) == (None, None, None)


def test_good_above_total_is_inconclusive() -> None:
    phase = PhaseEvidence("fault", 0.0, 600.0, total=count(6000), good=count(6001))
    judged = judge_phase(phase, slo(), POLICY, judged=True)
    assert (judged.verdict, judged.reason) == ("INCONCLUSIVE", "good (6001) does not fit total (6000)")


def test_no_good_or_bad_counter_is_inconclusive() -> None:
    judged = judge_phase(PhaseEvidence("fault", 0.0, 600.0, total=count(6000)), slo(), POLICY, judged=True)
    assert (judged.verdict, judged.reason) == ("INCONCLUSIVE", "no good or bad counter")


DOWN = ("target shop-1 was down",)


def test_telemetry_problems_turn_a_pass_into_inconclusive() -> None:
    judged = judge_phase(evidence(0, 6000, telemetry_problems=DOWN), slo(), POLICY, judged=True)
    assert judged.verdict == "INCONCLUSIVE"
    assert judged.reason == (
        f"target shop-1 was down; 0 bad of 6000 events: interval [0.000 %, 0.064 %] {WITHIN}")


def test_telemetry_problems_keep_a_fail() -> None:
    judged = judge_phase(evidence(120, 6000, telemetry_problems=DOWN), slo(), POLICY, judged=True)
    assert judged.verdict == "FAIL"
    assert "shop-1" not in judged.reason


def test_load_shortfall_is_inconclusive() -> None:
    client = ClientCounts(requests=6000, failures=0, achieved_rps=79.9, requested_rps=100.0)
    judged = judge_phase(evidence(0, 6000, client=client), slo(), POLICY, judged=True)
    assert judged.verdict == "INCONCLUSIVE"
    assert judged.reason == (
        "load reached 79.9 req/s of the 100.0 requested (79.9% < min_achieved_rps_ratio 80%): the load "
        "generator reached 79.9 req/s of 100.0 requested while responses took an unknown time on average: "
        "the generator could not keep up "
        "(its CPU?); the evidence cannot show the system under the requested load; "
        f"0 bad of 6000 events: interval [0.000 %, 0.064 %] {WITHIN}")


@pytest.mark.parametrize("achieved", [pytest.param(80.0, id="at_80_percent"), pytest.param(120, id="above")])
def test_load_at_the_requested_rate_is_no_shortfall(achieved: float) -> None:
    client = ClientCounts(requests=6000, failures=0, achieved_rps=achieved, requested_rps=100.0)
    assert judge_phase(evidence(0, 6000, client=client), slo(), POLICY, judged=True).verdict == "PASS"


def test_load_shortfall_keeps_a_fail() -> None:
    client = ClientCounts(requests=6000, failures=120, achieved_rps=10.0, requested_rps=100.0)
    assert judge_phase(evidence(120, 6000, client=client), slo(), POLICY, judged=True).verdict == "FAIL"


def test_unknown_requested_rate_is_no_shortfall() -> None:
    client = ClientCounts(requests=6000, failures=0, achieved_rps=1.0, requested_rps=None)
    assert judge_phase(evidence(0, 6000, client=client), slo(), POLICY, judged=True).verdict == "PASS"


def test_client_and_server_disagreeing_beyond_tolerance_is_noted() -> None:
    client = ClientCounts(requests=6200, failures=3, achieved_rps=100.0, requested_rps=100.0)
    judged = judge_phase(evidence(0, 6000, client=client), slo(), POLICY, judged=True)
    assert judged.client_server_difference == pytest.approx(-200 / 6200)
    assert judged.notes == (
        "client and server disagree: Locust counted 6200 requests, Prometheus 6000 (-3.23%)",)
    assert judged.verdict == "PASS"  # a note, not a verdict


def test_client_and_server_within_tolerance_is_not_noted() -> None:
    client = ClientCounts(requests=6100, failures=0, achieved_rps=100.0, requested_rps=100.0)
    judged = judge_phase(evidence(0, 6000, client=client), slo(), POLICY, judged=True)
    assert judged.client_server_difference == pytest.approx(-100 / 6100)
    assert judged.notes == ()


def test_resets_and_series_born_in_the_window_are_noted() -> None:
    total = count(6000, resets=2, born_in_window=({"replica": "2"},))
    phase = PhaseEvidence("fault", 0, 600, total=total, bad=count(0))
    judged = judge_phase(phase, slo(), POLICY, judged=True)
    assert judged.notes == (
        "2 counter reset(s) in the window, counted exactly", "1 series born inside the window")
    assert judged.born_in_window == ({"replica": "2"},)


# -- the SLO over the whole run ------------------------------------------------------------------------


def run(fault_bad: float | None = 120, fault_total: float | None = 6000) -> list[PhaseEvidence]:
    """warmup 60 s (bad, never judged nor counted), baseline 300 s, fault 600 s, recovery 300 s."""
    return [evidence(6000, 6000, "warmup", 60), evidence(0, 6000, "baseline", 300),
            evidence(fault_bad, fault_total, "fault", 600), evidence(0, 6000, "recovery", 300)]


def test_slo_spends_budget_over_every_phase_but_warmup() -> None:
    judged = judge_slo(slo(), hypothesis(max_budget_consumed="2%"), run(), POLICY)
    assert judged.budget_consumed == 20 * 600 / PERIOD
    assert judged.peak_burn_rate == 20
    assert judged.max_budget_consumed == 0.02
    assert judged.checks[-1] == (
        "budget consumed", "PASS", "budget consumed 0.4630% within the limit 2.0000%")
    assert judged.verdict == "FAIL"  # the fault phase itself fails its objective
    assert judged.reason.startswith("phase fault: 120 bad of 6000 events")


def test_slo_passes_when_every_phase_and_limit_holds() -> None:
    judged = judge_slo(slo(), hypothesis(max_budget_consumed="2%", max_burn_rate=5), run(fault_bad=0), POLICY)
    assert (judged.verdict, judged.reason) == ("PASS", "every judged phase and limit held")
    assert [name for name, _, _ in judged.checks] == [
        "phase baseline", "phase fault", "phase recovery", "budget consumed", "burn rate"]


@pytest.mark.parametrize(
    ("limits", "check"),
    [
        pytest.param({"max_budget_consumed": "0.1%"},
                     ("budget consumed", "FAIL", "budget consumed 0.4630% exceeds the limit 0.1000%"),
                     id="budget_exceeded"),
        pytest.param({"max_burn_rate": 10}, ("burn rate", "FAIL", "burn rate 20.00 exceeds the limit 10.00"),
                     id="burn_rate_exceeded"),
        pytest.param({"max_burn_rate": 25}, ("burn rate", "PASS", "burn rate 20.00 within the limit 25.00"),
                     id="burn_rate_within"),
    ],
)
def test_run_wide_limits(limits: dict[str, Any], check: tuple[str, str, str]) -> None:
    judged = judge_slo(slo(), hypothesis(phases=["baseline"], **limits), run(), POLICY)
    assert judged.checks == (judged.checks[0], check)
    assert judged.verdict == check[1]


def test_limits_are_inconclusive_when_a_phase_has_no_counts() -> None:
    limits = hypothesis(phases=["baseline"], max_budget_consumed="2%", max_burn_rate=25)
    judged = judge_slo(slo(), limits, run(fault_bad=None), POLICY)
    assert judged.budget_consumed is None
    assert judged.checks[1:] == (
        ("budget consumed", "INCONCLUSIVE", "budget consumed unknown: no usable counts for every phase"),
        ("burn rate", "INCONCLUSIVE", "burn rate unknown: no usable counts for every phase"),
    )
    assert judged.verdict == "INCONCLUSIVE"  # the judged baseline passed, but the run-wide limits are unknown


def test_limit_already_exceeded_by_the_known_phases_fails_despite_a_gap() -> None:
    phases = [*run()[:3], evidence(None, None, "recovery", 300)]
    judged = judge_slo(slo(), hypothesis(phases=["baseline"], max_budget_consumed="0.1%", max_burn_rate=10),
                       phases, POLICY)
    assert judged.checks[1:] == (
        ("budget consumed", "FAIL", "budget consumed at least 0.4630% exceeds the limit 0.1000%"),
        ("burn rate", "FAIL", "burn rate at least 20.00 exceeds the limit 10.00"),
    )
    assert judged.verdict == "FAIL"


def test_peak_burn_rate_of_the_abort_guard_counts() -> None:
    limit = hypothesis(phases=["baseline"], max_burn_rate=30)
    judged = judge_slo(slo(), limit, run(), POLICY, peak_burn_rate=45)
    assert judged.peak_burn_rate == 45
    assert judged.checks[-1] == ("burn rate", "FAIL", "burn rate 45.00 exceeds the limit 30.00")


def test_event_normalised_budget_with_period_events() -> None:
    judged = judge_slo(slo(), hypothesis(period_events=1_000_000), run(), POLICY)
    assert judged.budget_consumed_events == pytest.approx(120 / (0.001 * 1_000_000))
    assert judge_slo(slo(), hypothesis(), run(), POLICY).budget_consumed_events is None


def test_no_judged_phase_is_inconclusive_never_pass() -> None:
    judged = judge_slo(slo(), hypothesis(phases=["recovery"]), run()[:2], POLICY)
    assert judged.checks == ()
    assert judged.verdict == "INCONCLUSIVE"


def test_warmup_is_neither_judged_nor_counted() -> None:
    judged = judge_slo(slo(), hypothesis(), run(fault_bad=0), POLICY)
    warmup = judged.phases[0]
    assert (warmup.phase, warmup.judged, warmup.verdict) == ("warmup", False, "FAIL")
    assert judged.budget_consumed == 0
    assert judged.verdict == "PASS"


@pytest.mark.parametrize(("client", "verdict", "note"), [
    # 20 users pacing at 4 req/s each, answers taking 0.5 s: they can reach at most 40 req/s, and did
    (ClientCounts(6000, 0, 40.0, 80.0, mean_response_s=0.5, mean_users=20, throughput_per_user=4), "PASS",
     "load fell to 40.0 req/s of 80.0 requested because responses took 0.50 s on average"),
    # answers in 10 ms would have let the same users reach 80 req/s: the generator fell behind
    (ClientCounts(6000, 0, 40.0, 80.0, mean_response_s=0.01, mean_users=20, throughput_per_user=4), "INCONCLUSIVE",
     None),
], ids=["system_slow_closed_model", "generator_saturated"])
def test_a_shortfall_is_inconclusive_only_when_the_generator_could_not_keep_up(
        client: ClientCounts, verdict: str, note: str | None) -> None:
    judged = judge_phase(evidence(0, 6000, client=client), slo(), POLICY, judged=True)
    assert judged.verdict == verdict
    if note is None:
        assert "the generator could not keep up" in judged.reason
    else:
        assert any(n.startswith(note) for n in judged.notes)


def test_a_tiny_budget_share_keeps_its_significant_digits() -> None:
    assert (_budget_share(4.8e-07), _budget_share(0.00463), _budget_share(0.0)) == ("4.8e-05%", "0.4630%", "0.0000%")
