"""Comparing a run with its baseline: the tolerance and the floor, which runs count, and "no baseline"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.gate.outcome import gate_outcome
from harness.history.compare import CompareRule, compare, is_regression
from harness.history.store import read_history
from harness.reports.checks import REGRESSION_CHECK, Entry
from harness.reports.markdown import gate_markdown
from harness.result import write_run_result
from harness.result.model import RunResult
from tests.reports.results import FILE, checkout_result


def _run(run_id: str, started: float, latency_good: int = 1600, verdict: str = "PASS",
         fingerprint: str = "abc", **changes: Any) -> RunResult:
    result = checkout_result("PASS", run_id=run_id, started=started, **changes)
    latency = result.slo("latency")
    fault = latency.phase("fault").model_copy(update={"sli": latency_good / 1600})
    slos = (result.slos[0], latency.model_copy(update={"phases": {"fault": fault}}))
    source = result.source.model_copy(update={"fingerprint": fingerprint}) if result.source else None
    return result.model_copy(update={"slos": slos, "verdict": verdict, "source": source})


@pytest.mark.parametrize(("kind", "now", "baseline", "regression"), [
    ("sli", 0.990, 0.995, True),      # twice the errors
    ("sli", 0.9945, 0.995, False),    # 10 % more errors: within 20 %
    ("sli", 0.9996, 0.9999, False),   # 4x the errors, but 0.03 points: under the floor
    ("sli", 0.999, 0.990, False),     # better
    ("budget", 0.00003, 0.0, True),   # from nothing to above the floor
    ("budget", 0.000005, 0.0, False),  # from nothing to noise
    ("burn", 2.0, 1.5, True),
    ("burn", 1.7, 1.5, False),
    ("burn", 0.09, 0.0, False),
])
def test_worse_by_the_tolerance_and_the_floor(kind: str, now: float, baseline: float, regression: bool) -> None:
    assert is_regression(kind, now, baseline) is regression


def test_last_pass_is_the_newest_passing_run_of_the_same_version() -> None:
    earlier = [_run("old", 100), _run("newest-pass", 200), _run("failed", 300, verdict="FAIL"),
               _run("other-version", 400, fingerprint="changed")]
    now = _run("now", 500, latency_good=1500)
    comparison = compare(now, earlier, CompareRule())
    assert comparison.baseline_runs == ("newest-pass",)
    [regression] = comparison.regressions
    assert (regression.label, regression.now, regression.baseline) == ("latency phase fault SLI", 0.9375, 1.0)
    assert comparison.fails and "the last passing run (newest-pass)" in comparison.baseline


def test_the_median_of_the_last_n_passing_runs() -> None:
    earlier = [_run(f"r{i}", float(i), latency_good=good) for i, good in enumerate((1000, 1590, 1595, 1600))]
    comparison = compare(_run("now", 10.0, latency_good=1596), earlier, CompareRule(count=3))
    assert comparison.baseline_runs == ("r1", "r2", "r3")
    [sli] = [f for f in comparison.figures if f.label == "latency phase fault SLI"]
    assert sli.baseline == 1595 / 1600 and not sli.regression  # better than the median of the three


def test_too_few_earlier_runs_is_no_baseline_never_a_failure() -> None:
    comparison = compare(_run("now", 10.0, latency_good=10), [_run("r1", 1.0)], CompareRule(count=3))
    assert comparison.no_baseline == "1 earlier passing run of this experiment version (3 needed)"
    assert not comparison.figures and not comparison.fails and comparison.baseline == "no baseline"


def test_a_pinned_baseline_of_another_version_is_compared_with_a_note() -> None:
    comparison = compare(_run("now", 10.0), [_run("pinned", 1.0, fingerprint="older")], CompareRule(pinned="pinned"))
    assert comparison.baseline_runs == ("pinned",) and "fingerprint differs" in comparison.notes[0]
    assert not comparison.regressions


def test_regressions_only_warn_when_asked() -> None:
    comparison = compare(_run("now", 10.0, latency_good=1000), [_run("r1", 1.0)], CompareRule(warn_only=True))
    assert comparison.regressions and not comparison.fails


def test_the_history_names_corrupt_and_foreign_files_and_keeps_the_rest(tmp_path: Path) -> None:
    write_run_result(_run("good", 1.0), tmp_path / "good")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "result.json").write_text('{"experiment": ')
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "result.json").write_text('{"kind": "TestReport", "apiVersion": "other/v2"}')
    (tmp_path / "unfinished").mkdir()  # a run killed before it wrote its result: not a problem
    history = read_history(tmp_path)
    assert [run.run_id for run in history.runs] == ["good"]
    assert len(history.problems) == 2
    assert any(str(tmp_path / "corrupt" / "result.json") in p and "not a readable result file" in p
               for p in history.problems)
    assert any("foreign" in p and "not a run result of this harness" in p for p in history.problems)
    assert read_history(tmp_path / "missing").runs == ()


def test_a_regression_fails_a_passing_gate_with_fails_code_unless_it_only_warns() -> None:
    assert gate_outcome(["PASS", "PASS"], regressions=1).exit_code == 1
    assert "1 with a REGRESSION against the baseline" in gate_outcome(["PASS"], regressions=1).headline
    warned = gate_outcome(["PASS"], regressions=1, regressions_warn=True)
    assert warned.exit_code == 0 and "warning only" in warned.headline
    assert gate_outcome(["INCONCLUSIVE"], regressions=1).exit_code == 1  # a regression ranks as a FAIL


def test_reports_show_the_baseline_value_beside_each_compared_figure() -> None:
    now = _run("now", 500, latency_good=1500)
    comparison = compare(now, [_run("base", 100)], CompareRule())
    entry = Entry("checkout", FILE, now, comparison=comparison)
    [check] = [c for c in entry.checks() if c.name == REGRESSION_CHECK]
    assert check.verdict == "FAIL"
    assert "REGRESSION against the last passing run (base): latency phase fault SLI 93.750% (baseline 100.000%)" \
        in check.reason
    text = gate_markdown([entry], "h", "FAIL")
    assert "| vs baseline |" in text and "❌ REGRESSION: latency phase fault SLI 93.750% (baseline 100.000%)" in text
    assert "| latency phase fault SLI | 93.750% | 100.000% | REGRESSION |" in text
    none = Entry("checkout", FILE, now, comparison=compare(now, [], CompareRule()))
    assert REGRESSION_CHECK not in [c.name for c in none.checks()]  # no baseline: neither pass nor fail
    assert "| no baseline |" in gate_markdown([none], "h", "PASS")
