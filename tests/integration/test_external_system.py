"""Verdicts on a system the harness did not start: three shop replicas behind HAProxy, scraped by their
own Prometheus (1 s or 5 s), with faults that pause and kill the replicas' processes.

Each case is one the harness used to get wrong on such a system: a paused instance (hidden from
clients by HAProxy's retries) must PASS, not be INCONCLUSIVE because of the paused target; an SLI on
the one instance no fault touched must decide; a label-value typo must never PASS; a killed
instance declared in `expect_down` must decide; a declared interval that contradicts Prometheus is
a warning naming both; an open-model load against a stuck system FAILs instead of thinning out.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import REPO, RunningCli, RunOutcome, harness_argv, run_cli
from tests.integration.external_system import ExternalSystem, external_system

pytestmark = pytest.mark.integration

EDGE_AVAILABILITY = {
    "bad": 'haproxy_backend_http_responses_total{proxy="shop",code="5xx"}',
    "total": 'haproxy_backend_http_responses_total{proxy="shop"}',
}
SHOP_AVAILABILITY = {"bad": 'http_requests_total{code=~"5.."}', "total": "http_requests_total"}
REQUESTS = [
    {"name": "catalog", "method": "GET", "path": "/api/catalog", "weight": 8},
    {"name": "checkout", "method": "POST", "path": "/api/checkout", "weight": 2, "json": {"item": 42, "qty": 1}},
]
CLOSED_LOAD = {"stages": [{"duration": "5s", "users": 30, "spawn_rate": 30}], "wait": {"throughput": 2}}
PHASES_1S = {"warmup": "2s", "baseline": "8s", "fault": "10s", "recovery": "6s"}
PHASES_5S = {"warmup": "2s", "baseline": "12s", "fault": "12s", "recovery": "12s"}


@pytest.fixture
def system_1s(tmp_path: Path) -> Iterator[ExternalSystem]:
    with external_system(tmp_path / "system", scrape_interval_s=1.0) as system:
        yield system
        assert system.stopped_nodes() == [], "a replica was left paused"


@pytest.fixture
def system_5s(tmp_path: Path) -> Iterator[ExternalSystem]:
    with external_system(tmp_path / "system", scrape_interval_s=5.0) as system:
        yield system
        assert system.stopped_nodes() == [], "a replica was left paused"


def _run(tmp_path: Path, system: ExternalSystem, name: str, *, slos: list[dict[str, Any]],
         faults: list[dict[str, Any]], phases: dict[str, str] = PHASES_1S,
         load: dict[str, Any] | None = None, prometheus: dict[str, Any] | None = None) -> RunOutcome:
    path = _write(tmp_path, system, name, slos=slos, faults=faults, phases=phases, load=load, prometheus=prometheus)
    return run_cli(path, path.parent / "runs")


def _write(tmp_path: Path, system: ExternalSystem, name: str, *, slos: list[dict[str, Any]],
           faults: list[dict[str, Any]], phases: dict[str, str] = PHASES_1S,
           load: dict[str, Any] | None = None, prometheus: dict[str, Any] | None = None) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    profile = {"apiVersion": "harness/v1", "kind": "LoadProfile", "metadata": {"name": f"{name}-load"},
               "requests": REQUESTS, **(load or CLOSED_LOAD)}
    (folder / "profile.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    experiment = {
        "apiVersion": "harness/v1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "target": {"platform": "external"},
        "prometheus": {"url": system.prometheus_url, **(prometheus or {})},
        "slos": slos,
        "load": {"profile": "profile.yaml", "host": system.edge_url},
        "phases": phases,
        "faults": faults,
        "hypothesis": [{"slo": slo["name"]} for slo in slos],
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    return path


def _pause(system: ExternalSystem, node: str, duration: str = "6s") -> dict[str, Any]:
    pid = str(system.replica_pids[node])
    return {"name": f"pause-{node}", "type": "process", "at": "2s", "duration": duration,
            "start": ["kill", "-STOP", pid], "stop": ["kill", "-CONT", pid]}


def _verdicts(run: RunOutcome) -> dict[str, str]:
    return {slo["name"]: slo["verdict"] for slo in run.result["slos"]}


def _reasons(run: RunOutcome) -> str:
    return "\n".join(f"{slo['name']}: {slo['reason']}" for slo in run.result["slos"])


def test_a_paused_instance_hidden_by_the_edge_passes_and_the_untouched_instance_decides(
        tmp_path: Path, system_1s: ExternalSystem) -> None:
    run = _run(tmp_path, system_1s, "paused-1s", slos=[
        {"name": "edge-availability", "objective": 98, "sli": {"ratio": EDGE_AVAILABILITY}},
        # app1 is never touched: the paused app2 target of the same job must not make it INCONCLUSIVE
        {"name": "app1-latency", "objective": 95,
         "sli": {"latency": {"histogram": 'http_request_duration_seconds{node="app1"}', "threshold": "250ms"}}},
    ], faults=[_pause(system_1s, "app2")])
    assert run.exit_code == 0, _reasons(run) + run.stderr[-2000:]
    assert _verdicts(run) == {"edge-availability": "PASS", "app1-latency": "PASS"}
    fault = run.fault("pause-app2")
    assert fault["reverted"] is True
    edge_fault = run.slo("edge-availability")["phases"]["fault"]
    assert edge_fault["total"] > 200
    assert system_1s.state("app2") != "T"


def test_a_paused_instance_passes_at_a_5s_scrape_and_a_wrong_declared_interval_is_named(
        tmp_path: Path, system_5s: ExternalSystem) -> None:
    run = _run(tmp_path, system_5s, "paused-5s", phases=PHASES_5S,
               prometheus={"scrape_interval": "1s"},
               slos=[{"name": "edge-availability", "objective": 99, "sli": {"ratio": EDGE_AVAILABILITY}}],
               faults=[_pause(system_5s, "app2", duration="6s")])
    assert run.exit_code == 0, _reasons(run) + run.stderr[-2000:]
    assert _verdicts(run) == {"edge-availability": "PASS"}
    warnings = "\n".join(run.result["warnings"])
    assert "1s" in warnings and "5s" in warnings, warnings
    for name in ("baseline", "fault", "recovery"):
        phase = run.slo("edge-availability")["phases"][name]
        assert "scrape gap" not in phase["reason"], phase
        assert phase["scrape_interval_s"] == pytest.approx(5.0, rel=0.05)


def test_a_label_value_typo_is_refused_before_any_fault(
        tmp_path: Path, system_1s: ExternalSystem) -> None:
    pids = [str(pid) for pid in system_1s.replica_pids.values()]
    restarts = [str(system_1s.restart_file(node)) for node in system_1s.nodes]
    run = _run(tmp_path, system_1s, "label-typo", slos=[
        # HAProxy writes code="5xx": "5XX" matches no series, so this selector would count no errors
        {"name": "edge-availability", "objective": 99, "sli": {"ratio": {
            "bad": 'haproxy_backend_http_responses_total{proxy="shop",code="5XX"}',
            "total": 'haproxy_backend_http_responses_total{proxy="shop"}'}}},
    ], faults=[{"name": "kill-all", "type": "process", "at": "2s", "duration": "4s",
                "start": ["kill", "-KILL", *pids], "stop": ["touch", *restarts]}])
    assert run.exit_code != 0, _reasons(run)
    assert run.result["verdict"] != "PASS"
    # refused before anything started: the value is named with the ones the metric has
    assert 'did you mean "5xx"?' in run.result["reason"], run.result["reason"]
    assert run.result["faults"] == [] or all(f["started"] is None for f in run.result["faults"])
    assert set(system_1s.replica_pids.values()) == {int(pid) for pid in pids}  # nobody was killed
    assert system_1s.restarts == dict.fromkeys(system_1s.nodes, 0)


def test_a_killed_instance_declared_down_decides(tmp_path: Path, system_1s: ExternalSystem) -> None:
    node = "app2"
    run = _run(tmp_path, system_1s, "killed", slos=[
        # instance metrics without a selector: the killed replica's target is down during the fault
        {"name": "shop-availability", "objective": 95, "sli": {"ratio": SHOP_AVAILABILITY}},
    ], faults=[{"name": "kill-app2", "type": "process", "at": "2s", "duration": "5s",
                "start": ["kill", "-KILL", str(system_1s.replica_pids[node])],
                "stop": ["touch", str(system_1s.restart_file(node))],
                "expect_down": [{"node": node}]}])
    # the events between the replica's last scrape and the kill are lost with its counters: that
    # bound (one scrape interval of its traffic) is stated, and decides nothing at this budget
    assert run.exit_code == 0, _reasons(run) + run.stderr[-2000:]
    fault_phase = run.slo("shop-availability")["phases"]["fault"]
    assert fault_phase["verdict"] == "PASS", fault_phase
    assert 0 < fault_phase["missing_events_bound"] < 0.05 * fault_phase["total"]
    assert any("cannot change the verdict" in note for note in fault_phase["notes"]), fault_phase["notes"]
    assert system_1s.restarts[node] == 1


def test_open_model_load_against_a_stuck_system_fails_instead_of_thinning_out(
        tmp_path: Path, system_1s: ExternalSystem) -> None:
    pids = [str(pid) for pid in system_1s.replica_pids.values()]
    run = _run(tmp_path, system_1s, "stuck-open-model",
               load={"arrival": {"rate": 40, "max_in_flight": 20}, "timeout": "2s"},
               slos=[{"name": "client-availability", "objective": 99, "sli": {"client": {}}}],
               faults=[{"name": "pause-all", "type": "process", "at": "2s", "duration": "5s",
                        "start": ["kill", "-STOP", *pids], "stop": ["kill", "-CONT", *pids]}])
    assert run.exit_code == 1, _reasons(run) + run.stderr[-2000:]
    client = run.slo("client-availability")
    assert client["phases"]["fault"]["verdict"] == "FAIL", client["phases"]["fault"]
    assert client["phases"]["baseline"]["verdict"] != "FAIL"
    assert system_1s.stopped_nodes() == []


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_an_interrupted_run_resumes_the_paused_replica(
        tmp_path: Path, system_1s: ExternalSystem, start_cli: Callable[..., RunningCli], how: str) -> None:
    path = _write(tmp_path, system_1s, f"interrupted-{how.lower()}",
                  slos=[{"name": "edge-availability", "objective": 98, "sli": {"ratio": EDGE_AVAILABILITY}}],
                  faults=[_pause(system_1s, "app2", duration="8s")])
    running = start_cli(path)
    running.wait_for_journal("applied")
    assert system_1s.state("app2") == "T"
    if how == "SIGTERM":
        running.proc.send_signal(signal.SIGTERM)
        assert running.wait(timeout_s=60) != 0
    else:
        running.proc.kill()
        assert running.wait(timeout_s=10) == -signal.SIGKILL
        assert system_1s.state("app2") == "T"  # nobody resumed it yet: the journal holds the undo
        replay = subprocess.run(harness_argv("rollback", str(running.run_dir())), capture_output=True, text=True,
                                timeout=60, cwd=REPO, check=False)
        assert replay.returncode == 0, replay.stdout + replay.stderr
    assert system_1s.stopped_nodes() == []
