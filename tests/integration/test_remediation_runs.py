"""The remediation chain end to end on the local platform: generated rules in Prometheus, a real
Alertmanager, the webhook, the runbook, and the numbers in result.json."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import REPO, GameDayOutcome, run_cli, with_phases, write_experiment

pytestmark = pytest.mark.integration
DEMO = REPO / "remediation" / "experiments"
BROKEN_PHASES = {"warmup": 2.0, "baseline": 8.0, "fault": 12.0, "recovery": 5.0}


def test_the_runbook_the_page_starts_brings_the_shop_back(demo_day: GameDayOutcome) -> None:
    """The demo game day's third run: remediation/experiments/shop-outage-remediated.yaml as shipped."""
    run = demo_day.run("shop-outage-remediated")
    assert run.exit_code == 0, run.stdout + run.stderr[-3000:]
    [chain] = run.result["remediation"]
    assert chain["runbook_run"]["ok"] is True
    assert [s["result"] for s in chain["runbook_run"]["steps"]] == ["ok", "ok"]
    assert chain["first_fault"] < chain["first_breach"] <= chain["alert_firing"] <= chain["webhook_received"]
    assert chain["webhook_received"] <= chain["runbook_run"]["started"] < chain["recovered"]
    assert 0 < chain["time_to_detect_s"] < 30 and 0 < chain["time_to_recover_s"] < 45
    assert 0 < chain["budget_consumed"] < 0.002
    verdicts = {e["kind"]: e["verdict"] for e in run.result["expectations"]}
    assert verdicts == {"alert": "PASS", "remediated": "PASS"}
    kinds = [e["kind"] for e in run.result["events"]]
    for kind in ("fault-injected", "slo-breached", "alert-firing", "webhook-received", "runbook-started",
                 "runbook-step", "runbook-ended", "slo-recovered"):
        assert kind in kinds
    assert run.result["alerting"]["rejected_requests"] == 0
    assert "time to detect" in run.stdout and "remediation of shop-availability" in run.stdout
    rules = Path(run.result["alerting"]["rule_files"][0])
    assert rules.parent == run.run_dir / "alerting" and (rules.parent / rules.name.replace(
        ".rules.yaml", ".rules.test.yaml")).is_file()
    assert not list(run.run_dir.rglob("token"))  # the webhook's secret never lands in the run folder
    assert demo_day.leftovers == []


def test_a_broken_runbook_fails_for_that_reason(tmp_path: Path) -> None:
    """The shipped twin with shorter phases (the page fires ~5 s after the kill, the runbook fails at once):
    a copy of remediation/, so the runbook it names is the shipped one."""
    shutil.copytree(REPO / "remediation", tmp_path / "remediation")
    name = "shop-outage-broken-runbook.yaml"
    experiment = with_phases(DEMO / name, tmp_path / "remediation" / "experiments" / name, BROKEN_PHASES)
    run = run_cli(experiment, tmp_path / "runs")
    assert run.exit_code == 1, run.stdout + run.stderr[-3000:]
    assert run.result["reason"].startswith("remediation of shop-availability: runbook restart-shop-broken failed: "
                                           "step 'restart replica 3' (http) failed:")
    assert "answered HTTP 400" in run.result["reason"]
    [remediated] = [e for e in run.result["expectations"] if e["kind"] == "remediated"]
    assert remediated["verdict"] == "FAIL"


def test_an_alert_firing_before_the_fault_is_inconclusive(tmp_path: Path) -> None:
    """The system was not in a steady state: neither the alert nor its remediation proves anything."""
    rules = tmp_path / "always.yaml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "always", "rules": [
        {"alert": "shop-always-firing", "expr": "vector(1)"}]}]}))
    runbook = tmp_path / "noop.yaml"
    runbook.write_text(yaml.safe_dump({"apiVersion": "harness/v1", "kind": "Runbook", "metadata": {"name": "noop"},
                                       "steps": [{"name": "nothing", "command": ["true"]}]}))
    experiment = write_experiment(
        tmp_path, "fires-early", local={"alert_rules": ["always.yaml"]},
        phases={"warmup": "2s", "baseline": "8s", "fault": "6s", "recovery": "4s"},
        faults=[{"name": "kill-one", "type": "pod-kill", "at": "1s", "count": 1, "selector": {"app": "shop"}}],
        remediation=[{"on_alert": "shop-always-firing", "runbook": "noop.yaml", "slo": "shop-availability"}],
        expect=[{"alert": "shop-always-firing", "within": "10s"},
                {"remediated": "shop-availability", "within": "10s"}])
    run = run_cli(experiment, tmp_path / "runs")
    assert run.exit_code == 3, run.stdout + run.stderr[-3000:]
    verdicts = {e["kind"]: (e["verdict"], e["reason"]) for e in run.result["expectations"]}
    assert verdicts["alert"][0] == "INCONCLUSIVE" and "already firing" in verdicts["alert"][1]
    assert verdicts["remediated"][0] == "INCONCLUSIVE" and "fired before the first fault" in verdicts["remediated"][1]
