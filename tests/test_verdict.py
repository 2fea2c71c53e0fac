"""How verdicts combine, the exit code of each, and how the console summary shows them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from harness.evidence.counting import EXACT, Count
from harness.evidence.phase import PhaseEvidence
from harness.faults.base import FaultCheck
from harness.judge.slo import judge_slo
from harness.judge.verdict import EXIT_CODES, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_REFUSED, Verdict, combine
from harness.reports.console import summary
from harness.result import RunResult
from harness.run.faultrunner import FaultRecord
from harness.run.record import ExpectationResult, RunRecord
from harness.run.result_build import run_result
from harness.spec.models import EvidencePolicy, Hypothesis, InlineSLO


@pytest.mark.parametrize(
    ("verdicts", "overall"),
    [
        pytest.param([], "INCONCLUSIVE", id="no_checks"),
        pytest.param(["PASS"], "PASS", id="one_pass"),
        pytest.param(["PASS", "PASS", "PASS"], "PASS", id="all_pass"),
        pytest.param(["PASS", "INCONCLUSIVE"], "INCONCLUSIVE", id="missing_evidence_beats_pass"),
        pytest.param(["INCONCLUSIVE", "FAIL", "PASS"], "FAIL", id="fail_beats_inconclusive"),
        pytest.param(["FAIL", "ABORTED"], "ABORTED", id="aborted_beats_fail"),
        pytest.param(["ABORTED", "ERROR", "PASS"], "ERROR", id="error_beats_everything"),
    ],
)
def test_combine(verdicts: list[Verdict], overall: Verdict) -> None:
    assert combine(verdicts) == overall
    assert combine(iter(verdicts)) == overall  # any iterable, read once


def test_exit_codes_are_the_spec_table() -> None:
    assert EXIT_CODES == {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3, "ABORTED": 4, "ERROR": 5}
    assert (EXIT_INVALID, EXIT_REFUSED, EXIT_INTERRUPTED) == (2, 6, 130)


# -- the console summary -------------------------------------------------------------------------------


def evidence(phase: str, start: float, end: float, bad: float | None, total: float) -> PhaseEvidence:
    return PhaseEvidence(phase, start, end, total=Count(total, EXACT, 1), bad=Count(bad, EXACT, 1))


def result() -> RunResult:
    """The result document of a run whose fault phase failed: 120 bad of 6000 at a 99.9 % objective."""
    slo = InlineSLO.model_validate(
        {"name": "checkout", "objective": 99.9, "sli": {"ratio": {"bad": "errors", "total": "requests"}}})
    phases = [evidence("warmup", 0, 60, 0, 600), evidence("baseline", 60, 360, 0, 6000),
              evidence("fault", 360, 960, 120, 6000), evidence("recovery", 960, 1260, None, 6000)]
    limits = {"max_budget_consumed": "2%", "max_burn_rate": 30}
    hypothesis = Hypothesis.model_validate({"slo": "checkout", **limits})
    judged = judge_slo(slo, hypothesis, phases, EvidencePolicy())
    state = RunRecord(experiment="checkout-survives-pod-kill", run_id="r1", run_dir=Path("runs/r1"),
                     platform="local", started=0.0, ended=1260.0, verdict="FAIL", exit_code=1,
                     reason="checkout: phase fault failed")
    state.slos.append(judged)
    state.faults.append(FaultRecord("kill-one-replica", "pod-kill", 370.0, 370.0, targets=("shop-1",),
                                    started=370.0, ended=370.0, reverted=None,
                                    check=FaultCheck(True, "shop-1 gone, back after 1.2s")))
    state.expectations.append(ExpectationResult("replicas_ready", "3", 20.0, "PASS", 1.2, "3 of 3 ready"))
    state.load = {"requests": 18600, "failures": 121, "achieved_rps": 14.76, "requested_rps": 15.0}
    state.problems.append("the recovery phase had a scrape gap")
    return run_result(state)


def test_summary_shows_verdicts_and_numbers() -> None:
    out = io.StringIO()
    summary(result(), out)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[1] == "checkout-survives-pod-kill: FAIL (exit 1)"
    assert lines[2] == "  why: checkout: phase fault failed"
    table = {line.split()[1]: line.split() for line in lines[4:7]}
    assert lines[3].split() == ["SLO", "phase", "good/total", "SLI", "objective", "burn", "verdict", "reason"]
    assert table["baseline"][:7] == ["checkout", "baseline", "6000/6000", "100.000%", "99.9%", "0.00", "PASS"]
    assert table["fault"][:7] == ["checkout", "fault", "5880/6000", "98.000%", "99.9%", "20.00", "FAIL"]
    assert table["recovery"][:7] == ["checkout", "recovery", "-", "-", "99.9%", "-", "INCONCLUSIVE"]
    assert "warmup" not in table
    assert ("  checkout: FAIL; budget consumed - of its 30d budget (limit 2.00%), peak burn rate 20.00 "
            "(limit 30)") in lines
    assert "  fault kill-one-replica (pod-kill) on shop-1: instant; shop-1 gone, back after 1.2s" in lines
    assert "  expect replicas_ready 3 within 20s: PASS (3 of 3 ready)" in lines
    assert "  load (Locust): 18600 requests, 121 failed, 14.8 req/s of 15.0 requested" in lines
    assert "  ! the recovery phase had a scrape gap" in lines


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_summary_has_no_colour_codes_when_not_a_terminal() -> None:
    out = io.StringIO()
    summary(result(), out)
    assert "\033[" not in out.getvalue()


def test_summary_is_coloured_on_a_terminal() -> None:
    out = _Terminal()
    summary(result(), out)
    assert "checkout-survives-pod-kill: \033[31mFAIL\033[0m (exit 1)" in out.getvalue()
    assert "\033[32mPASS\033[0m" in out.getvalue()


def test_summary_of_a_run_without_slos() -> None:
    out = io.StringIO()
    summary(RunResult(experiment="e", run_id="r", verdict="ERROR", exit_code=5, reason="Prometheus unreachable"), out)
    assert out.getvalue() == "\ne: ERROR (exit 5)\n  why: Prometheus unreachable\n"
