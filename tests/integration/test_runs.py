"""Whole runs on the local platform: a PASS, a FAIL and the INCONCLUSIVE cases, judged from real evidence."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.integration.conftest import (
    RunOutcome,
    availability_slo,
    journal_entries,
    latency_slo,
    replica_state,
    run_cli,
    write_experiment,
)

pytestmark = pytest.mark.integration

# experiments/shop-survives-replica-kill.yaml, the run `pod_kill_run` gives (the demo game day's first)
PHASE_LENGTHS = {"warmup": 5.0, "baseline": 15.0, "fault": 20.0, "recovery": 15.0}
KILL = "kill-one-replica"


@pytest.mark.integration
def test_pod_kill_run_passes_with_the_spec_fields(pod_kill_run: RunOutcome) -> None:
    run = pod_kill_run
    assert run.exit_code == 0, run.stderr[-3000:]
    result = run.result
    assert result["verdict"] == "PASS"
    assert result["exit_code"] == 0
    assert result["experiment"] == "shop-survives-replica-kill"
    assert result["run_id"] == run.run_dir.name
    assert result["run_id"].endswith("-shop-survives-replica-kill")
    assert "shop-survives-replica-kill: PASS (exit 0)" in run.stdout

    slo = run.slo("shop-availability")
    assert slo["verdict"] == "PASS"
    assert slo["objective"] == 99.0
    assert slo["budget_consumed"] is not None and slo["budget_consumed"] <= 0.01
    assert set(slo["phases"]) == {"warmup", "baseline", "fault", "recovery"}
    for name in ("baseline", "fault", "recovery"):
        phase = slo["phases"][name]
        assert phase["verdict"] == "PASS", phase
        assert phase["total"] > 0 and phase["good"] is not None
        assert phase["good"] <= phase["total"]
        assert phase["sli"] == pytest.approx(phase["good"] / phase["total"], abs=1e-6)

    fault = run.fault(KILL)
    assert fault["type"] == "pod-kill"
    assert fault["started"] is not None and fault["ended"] is not None
    assert "reverted" in fault  # an instant fault has nothing to revert: null, never false
    assert fault["reverted"] is not False

    assert [e["kind"] for e in result["expectations"]] == ["replicas_ready", "recovers"]
    load = result["load"]
    assert load["requests"] > 1000
    assert load["failures"] < 0.05 * load["requests"]
    assert load["achieved_rps"] == pytest.approx(80, rel=0.2)


@pytest.mark.integration
def test_pod_kill_run_phases_are_ordered_and_planned_lengths(pod_kill_run: RunOutcome) -> None:
    phases = pod_kill_run.result["phases"]
    assert list(phases) == ["warmup", "baseline", "fault", "recovery"]
    previous_end = None
    for name, planned in PHASE_LENGTHS.items():
        start, end = phases[name]["start"], phases[name]["end"]
        assert end - start == pytest.approx(planned, abs=0.5), name
        if previous_end is not None:
            assert start >= previous_end - 1e-6, name
            assert start - previous_end < 0.5, name
        previous_end = end
    fault = pod_kill_run.fault(KILL)
    # planned at 5 s into the fault phase
    assert fault["started"] - phases["fault"]["start"] == pytest.approx(5.0, abs=0.5)
    assert phases["fault"]["start"] < fault["started"] < phases["fault"]["end"]


@pytest.mark.integration
def test_pod_kill_run_server_counts_match_locust_per_phase(pod_kill_run: RunOutcome) -> None:
    slo = pod_kill_run.slo("shop-availability")
    for name in ("baseline", "fault", "recovery"):
        phase = slo["phases"][name]
        client = phase["client"]
        assert client is not None, name
        assert client["requests"] > 0
        # The server counts between the last scrapes at or before each edge, Locust by request start:
        # the two windows differ by less than one scrape interval (1 s here) at each edge.
        one_scrape = client["achieved_rps"] * 1.0
        assert abs(phase["total"] - client["requests"]) <= one_scrape, (name, phase["total"], client)
        assert pod_kill_run.result["load"]["phases"][name]["requests"] == client["requests"]
    totals = [slo["phases"][name]["total"] for name in ("baseline", "fault", "recovery")]
    clients = [slo["phases"][name]["client"]["requests"] for name in ("baseline", "fault", "recovery")]
    # inner edges cancel out: over the three phases together the counts agree within one edge's shift
    assert abs(sum(totals) - sum(clients)) <= slo["phases"]["fault"]["client"]["achieved_rps"] * 1.0


@pytest.mark.integration
def test_pod_kill_restarts_the_killed_replica_with_a_new_pid(pod_kill_run: RunOutcome) -> None:
    fault = pod_kill_run.fault(KILL)
    killed = fault["details"]["killed"]
    assert len(killed) == 1
    assert fault["targets"] == [killed[0]["replica"]]
    assert fault["took_effect"] is True
    assert "1 restarted with a new PID" in fault["observed"]
    replicas = replica_state(pod_kill_run.run_dir)
    assert len(replicas) == 3
    victim = replicas[killed[0]["index"]]
    assert victim["pid"] != killed[0]["pid"]
    assert victim["restarts"] == 1
    assert all(r["restarts"] == 0 for i, r in replicas.items() if i != killed[0]["index"])


@pytest.mark.integration
def test_latency_fault_fails_the_latency_slo_and_recovers(tmp_path: Path) -> None:
    # The fault ends 2 s before the recovery phase: a phase's counted window starts at the last scrape
    # before its start (up to one 1 s scrape interval earlier), and requests delayed when the fault was
    # reverted still finish up to 320 ms later. Ending 1 s before it, those landed in recovery whenever
    # a scrape fell inside that 320 ms (19 slow of 419 once in CI: INCONCLUSIVE at a 5 % budget).
    experiment = write_experiment(
        tmp_path, "integration-latency",
        slos=[availability_slo(), latency_slo(),
              {"name": "client-latency", "objective": 95, "sli": {"client": {"latency": "250ms"}}},
              {"name": "client-availability", "objective": 95, "sli": {"client": {}}}],
        faults=[{"name": "slow", "type": "latency", "at": "1s", "duration": "5s", "delay": "300ms",
                 "jitter": "20ms"}],
        hypothesis=[{"slo": "shop-availability"}, {"slo": "shop-latency"}, {"slo": "client-latency"},
                    {"slo": "client-availability"}],
    )
    run = run_cli(experiment, tmp_path / "runs")
    assert run.exit_code == 1, run.stderr[-3000:]
    assert run.result["verdict"] == "FAIL"
    latency = run.slo("shop-latency")
    assert latency["verdict"] == "FAIL"
    fault_phase = latency["phases"]["fault"]
    assert fault_phase["verdict"] == "FAIL"
    # 5 s of 8 delayed by 300 ms (> 250 ms): about 3/8 of the phase's requests are fast
    assert fault_phase["total"] > 300
    assert fault_phase["sli"] < 0.5
    assert fault_phase["good"] < 0.5 * fault_phase["total"]
    assert "shop-latency" in run.result["reason"]
    assert latency["phases"]["baseline"]["verdict"] == "PASS", latency["phases"]["baseline"]
    assert latency["phases"]["recovery"]["verdict"] == "PASS", (latency["phases"]["recovery"],
                                                                run.result.get("problems"))
    assert latency["phases"]["recovery"]["sli"] > 0.95
    fault = run.fault("slow")
    assert fault["reverted"] is True
    assert fault["took_effect"] is True
    assert fault["ended"] - fault["started"] == pytest.approx(5.0, abs=0.5)
    assert not any("before the recovery phase is judged" in w for w in run.result["warnings"])
    assert run.slo("shop-availability")["verdict"] == "PASS"
    assert "FAIL (exit 1)" in run.stdout

    # the same latency bound counted from the load generator's own record agrees with the server side
    client_latency = run.slo("client-latency")
    assert client_latency["phases"]["baseline"]["verdict"] == "PASS"
    assert client_latency["phases"]["fault"]["verdict"] == "FAIL"
    assert client_latency["phases"]["fault"]["method"] == "client-record"
    assert run.slo("client-availability")["verdict"] == "PASS"
    for name in ("baseline", "fault"):
        phase = client_latency["phases"][name]
        assert phase["total"] == _recount_whole_seconds(run.run_dir / "load" / "record.jsonl",
                                                        phase["start"], phase["end"]), name


@pytest.mark.integration
def test_misspelt_metric_stops_at_preflight_before_load_or_faults(tmp_path: Path) -> None:
    experiment = write_experiment(
        tmp_path, "integration-misspelt",
        slos=[{"name": "shop-availability", "objective": 99, "sli": {"ratio": {
            "bad": 'caddy_http_request_duration_seconds_count{code=~"5.."}',
            "total": "caddy_http_requests_duration_seconds_count"}}}],
        faults=[{"name": "slow", "type": "latency", "at": "1s", "duration": "2s", "delay": "300ms"}],
    )
    run = run_cli(experiment, tmp_path / "runs")
    assert run.exit_code == 3, run.stderr[-3000:]
    assert run.result["verdict"] == "INCONCLUSIVE"
    assert "preflight" in run.result["reason"]
    assert "caddy_http_requests_duration_seconds_count" in run.result["reason"]
    assert "misspelt" in run.result["reason"]
    record = run.run_dir / "load" / "record.jsonl"
    assert not record.exists() or '"requests"' not in record.read_text()
    assert run.result["load"].get("requests", 0) == 0
    assert journal_entries(run.run_dir) == []
    assert run.result["faults"] == []
    assert run.result["phases"] == {}


@pytest.mark.integration
def test_fault_aimed_at_nothing_and_too_few_events_are_inconclusive(tmp_path: Path) -> None:
    experiment = write_experiment(
        tmp_path, "integration-nothing",
        slos=[availability_slo(), availability_slo("shop-availability-999", 99.9)],
        faults=[{"name": "slow-nobody", "type": "latency", "at": "1s", "duration": "4s", "delay": "300ms",
                 "selector": {"replica": "99"}}],
        hypothesis=[{"slo": "shop-availability"}, {"slo": "shop-availability-999"}],
    )
    run = run_cli(experiment, tmp_path / "runs")
    assert run.exit_code == 3, run.stderr[-3000:]
    assert run.result["verdict"] == "INCONCLUSIVE"
    fault = run.fault("slow-nobody")
    assert fault["targets"] == []
    assert fault["took_effect"] is False
    assert "aimed at nothing" in fault["observed"]
    problems = run.result["problems"]
    assert any("slow-nobody did not take effect" in p and "aimed at nothing" in p for p in problems), problems
    # the 99 % SLO has enough evidence to pass; 99.9 % would need ~3800 clean requests per phase
    assert run.slo("shop-availability")["verdict"] == "PASS"
    strict = run.slo("shop-availability-999")
    assert strict["verdict"] == "INCONCLUSIVE"
    baseline = strict["phases"]["baseline"]
    assert baseline["verdict"] == "INCONCLUSIVE"
    assert 300 < baseline["total"] < 3838
    assert baseline["error_ratio_interval"][1] > 0.001
    assert "Wilson" in baseline["reason"]


def _recount_whole_seconds(record: Path, start: float, end: float) -> int:
    """Requests started in the whole seconds of [start, end), summed straight from the record lines."""
    seconds = range(math.ceil(start), math.floor(end))
    lines = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    return sum(int(item["requests"]) for item in lines if "requests" in item and item["second"] in seconds)
