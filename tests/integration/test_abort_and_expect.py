"""The abort guard halting a run on its burn rate, and the expectations measured from Prometheus."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import RunOutcome, journal_entries, run_cli, write_experiment

pytestmark = pytest.mark.integration

ALERT_RULES = {
    "groups": [{
        "name": "integration",
        "rules": [{
            "alert": "EdgeServesErrors",
            "expr": 'sum(rate(caddy_http_request_duration_seconds_count{code=~"5.."}[5s])) > 0',
            "for": "0s",
        }],
    }],
}


@pytest.mark.integration
def test_abort_guard_halts_on_the_burn_rate_and_reverts_early(tmp_path: Path) -> None:
    planned = 12.0
    experiment = write_experiment(
        tmp_path, "integration-abort",
        phases={"warmup": "2s", "baseline": "5s", "fault": "14s", "recovery": "4s"},
        faults=[{"name": "all-errors", "type": "http-error", "at": "1s", "duration": f"{planned:g}s",
                 "rate": "100%", "status": 503}],
        abort={"max_burn_rate": 10, "window": "5s", "check_every": "1s", "consecutive": 2},
    )
    run = run_cli(experiment, tmp_path / "runs")
    assert run.exit_code == 4, run.stderr[-3000:]
    result = run.result
    assert result["verdict"] == "ABORTED"
    assert "burn rate of shop-availability" in result["reason"]
    assert "above 10" in result["reason"]
    fault = run.fault("all-errors")
    assert fault["reverted"] is True
    assert fault["took_effect"] is True
    assert fault["ended"] - fault["started"] < planned - 4.0
    checks = result["abort_checks"]
    assert len(checks) >= 2
    assert all(c["breach"] for c in checks[-2:])
    assert all(c["burn_rate"] > 10 for c in checks[-2:])
    assert all(c["slo"] == "shop-availability" for c in checks[-2:])
    assert checks[0]["time"] >= fault["started"]  # checked only while a fault is active
    assert [e["event"] for e in journal_entries(run.run_dir)] == ["intent", "applied", "reverted"]
    # the fault phase was cut at the abort, and what it saw is judged: a failure, in numbers
    fault_phase = run.slo("shop-availability")["phases"]["fault"]
    assert fault_phase["verdict"] == "FAIL"
    assert fault_phase["bad"] > 0
    assert result["phases"]["fault"]["end"] - result["phases"]["fault"]["start"] < 14.0 - 4.0


@pytest.fixture(scope="module")
def error_fault_run(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    """Half the requests answered 503 for 6 s, with an alert rule on edge 5xx and a slow recovery check."""
    folder = tmp_path_factory.mktemp("expectations")
    (folder / "rules.yaml").write_text(yaml.safe_dump(ALERT_RULES, sort_keys=False))
    experiment = write_experiment(
        folder, "integration-expectations",
        local={"alert_rules": ["rules.yaml"]},
        phases={"warmup": "2s", "baseline": "6s", "fault": "8s", "recovery": "13s"},
        faults=[{"name": "half-errors", "type": "http-error", "at": "1s", "duration": "6s", "rate": "50%",
                 "status": 503}],
        hypothesis=[{"slo": "shop-availability", "phases": ["baseline"]}],
        expect=[{"recovers": "shop-availability", "within": "1s", "window": "10s"},
                {"alert": "EdgeServesErrors", "within": "30s"}],
    )
    return run_cli(experiment, folder / "runs")


def expectation(run: RunOutcome, kind: str) -> dict[str, object]:
    found: dict[str, object] = next(e for e in run.result["expectations"] if e["kind"] == kind)
    return found


@pytest.mark.integration
def test_too_slow_recovery_fails_with_its_observed_time(error_fault_run: RunOutcome) -> None:
    run = error_fault_run
    assert run.exit_code == 1, run.stderr[-3000:]
    assert run.result["verdict"] == "FAIL"
    # only the baseline is judged: the failure is the expectation's
    assert run.slo("shop-availability")["verdict"] == "PASS"
    recovers = expectation(run, "recovers")
    assert recovers["target"] == "shop-availability"
    assert recovers["within"] == "1s"
    assert recovers["verdict"] == "FAIL"
    observed = recovers["observed_s"]
    assert isinstance(observed, float)
    # the trailing 10 s window still holds errors for about 10 s after the fault ends
    assert 5.0 < observed < 13.0
    assert f"after {observed:.1f}s ± 1s (scrape interval) (beyond 1s)" in str(recovers["reason"])
    assert recovers["observed"] == f"{observed:.1f}s"


@pytest.mark.integration
def test_alert_from_a_rules_file_fires_during_the_error_fault(error_fault_run: RunOutcome) -> None:
    alert = expectation(error_fault_run, "alert")
    assert alert["target"] == "EdgeServesErrors"
    assert alert["verdict"] == "PASS", alert
    observed = alert["observed_s"]
    assert isinstance(observed, float)
    assert 0.0 <= observed <= 6.0  # fired while the 6 s fault was still active
    assert "alert EdgeServesErrors fired after" in str(alert["reason"])
    fault = error_fault_run.fault("half-errors")
    assert fault["took_effect"] is True
    assert fault["reverted"] is True


@pytest.mark.integration
def test_replicas_ready_after_a_pod_kill_passes_with_its_observed_time(pod_kill_run: RunOutcome) -> None:
    ready = next(e for e in pod_kill_run.result["expectations"] if e["kind"] == "replicas_ready")
    assert ready["target"] == "3 replicas"
    assert ready["verdict"] == "PASS", ready
    # restart delay 1 s plus start-up: the dip is seen, and the replicas are back well within 10 s
    assert 1.0 <= ready["observed_s"] <= 10.0
    assert "3 replicas ready again after" in ready["reason"]
