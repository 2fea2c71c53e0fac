"""result.json is written from a typed RunResult and read back into the same model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.result import RESULT_API_VERSION, RESULT_NAME, load_result
from harness.result.model import RunResult
from harness.run.faultrunner import FaultRecord
from harness.run.record import ExpectationResult, RunRecord
from harness.run.result_build import run_result, write_result
from tests.test_verdict import result as summary_result

SPEC_EXAMPLE = {  # the result file example of the file format spec (experiment-v1.md), verbatim
    "experiment": "checkout-survives-pod-kill",
    "run_id": "20261129T031502Z-checkout-survives-pod-kill",
    "verdict": "FAIL",
    "exit_code": 1,
    "phases": {"baseline": {"start": 1795912780.0, "end": 1795912810.0}, "fault": {}, "recovery": {}},
    "slos": [{"name": "checkout-availability", "objective": 99.5, "verdict": "FAIL", "budget_consumed": 0.0123,
              "phases": {"fault": {"good": 11843, "total": 11990, "sli": 0.98774, "verdict": "FAIL",
                                   "reason": "..."}}}],
    "faults": [{"name": "kill-one-replica", "type": "pod-kill", "started": 0.0, "ended": 0.0, "reverted": True}],
    "expectations": [{"kind": "recovers", "target": "checkout-availability", "verdict": "PASS", "observed": "4.2s"}],
    "load": {"requests": 12345, "failures": 17, "achieved_rps": 205.1},
}


def _state(tmp_path: Path) -> RunRecord:
    state = RunRecord(experiment="e", run_id="r1", run_dir=tmp_path / "r1", platform="local", started=100.0,
                     ended=130.0, verdict="PASS", exit_code=0)
    state.phases = {"baseline": {"start": 101.0, "end": 110.0}, "fault": {"start": 110.0, "end": 125.0}}
    state.faults.append(FaultRecord("slow", "latency", 2.0, 8.0, targets=("shop-0",), started=112.0, ended=118.0,
                                    reverted=True))
    state.expectations.append(ExpectationResult("recovers", "avail", 10.0, "PASS", 3.0, "back after 3.0s"))
    state.abort_checks = [{"time": 115.0, "slo": "avail", "burn_rate": 40.0, "breach": True, "unknown": []}]
    state.load = {"requests": 10, "failures": 0, "achieved_rps": 1.0, "phases": {}, "log": "x.log"}
    return state


def test_the_spec_example_reads_without_api_version() -> None:
    result = RunResult.model_validate(SPEC_EXAMPLE)
    assert result.api_version == RESULT_API_VERSION
    assert result.slo("checkout-availability").phases["fault"].good == 11843
    assert result.fault("kill-one-replica").reverted is True
    assert result.expectations[0].observed == "4.2s"
    assert result.phases["fault"].start is None
    assert result.load.achieved_rps == 205.1


def test_written_file_keeps_the_spec_fields_and_reads_back_equal(tmp_path: Path) -> None:
    state = _state(tmp_path)
    path = write_result(state)
    document = json.loads(path.read_text())
    assert document["apiVersion"] == RESULT_API_VERSION
    for key in SPEC_EXAMPLE:
        assert key in document, key
    assert document["phases"]["baseline"] == {"start": 101.0, "end": 110.0}
    assert document["faults"][0]["reverted"] is True
    assert document["expectations"][0]["observed"] == "3.0s"
    assert load_result(path) == run_result(state)
    assert load_result(path.parent) == run_result(state)  # the run folder works too


def test_the_summary_fixture_round_trips(tmp_path: Path) -> None:
    result = summary_result()
    (tmp_path / RESULT_NAME).write_text(json.dumps(result.document()))
    assert load_result(tmp_path) == result


def test_the_timeline_orders_phases_faults_and_breaches(tmp_path: Path) -> None:
    events = [(e.time, e.kind, e.name) for e in run_result(_state(tmp_path)).events]
    assert events == [
        (101.0, "phase-started", "baseline"),
        (110.0, "phase-ended", "baseline"),
        (110.0, "phase-started", "fault"),
        (112.0, "fault-injected", "slow"),
        (115.0, "abort-breach", "avail"),
        (118.0, "fault-reverted", "slow"),
        (125.0, "phase-ended", "fault"),
        (130.0, "run-ended", ""),
    ]


def test_fields_of_a_newer_harness_are_kept() -> None:
    result = RunResult.model_validate({**SPEC_EXAMPLE, "gate": {"passed": 3}})
    assert result.document()["gate"] == {"passed": 3}


@pytest.mark.parametrize(("content", "message"), [
    pytest.param("{", "not a readable result file", id="broken-json"),
    pytest.param("[1, 2]", "expected a JSON object", id="not-an-object"),
    pytest.param('{"experiment": "e"}', "run_id: Field required", id="missing-field"),
    pytest.param('{"experiment": "e", "run_id": "r", "verdict": "MAYBE"}', "verdict", id="unknown-verdict"),
])
def test_a_file_that_is_not_a_result_is_named_with_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / RESULT_NAME
    path.write_text(content)
    with pytest.raises(SpecError) as caught:
        load_result(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_a_missing_result_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such result file"):
        load_result(tmp_path)


def test_a_run_that_never_started_its_load_writes_an_empty_load(tmp_path: Path) -> None:
    state = RunRecord(experiment="e", run_id="r1", run_dir=tmp_path, platform="local", started=1.0)
    document = run_result(state).document()
    assert document["load"] == {}
    assert (document["apiVersion"], document["kind"]) == (RESULT_API_VERSION, "RunResult")
    assert document["faults"] == [] and document["verdict"] is None
