"""`platform: kubernetes` end to end: only the API server is simulated.

The local platform's stack (replicas, supervisor, fault proxy, Caddy, Prometheus) is started here as
"the cluster's workload"; the simulator's pods are its replicas (deleting one SIGKILLs that replica,
the supervisor restarts it) and a NetworkChaos becomes a rule in its fault proxy. The harness runs as
`harness run` against the simulator through a kubeconfig, with the user's Prometheus and load host.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.platform.local.stack import LocalStack
from tests.integration.conftest import (
    REPO,
    RunningCli,
    availability_slo,
    harness_argv,
    journal_entries,
    latency_slo,
    matching_processes,
    read_json,
    run_cli,
    wait_no_leftovers,
    write_experiment,
)
from tests.k8s.replicas import LocalReplicas
from tests.k8s.server import ApiSimulator

pytestmark = pytest.mark.integration

CONTEXT, NAMESPACE = "kind-gate", "shop"
NETWORKCHAOS = "networkchaos"


@dataclass(frozen=True)
class SimulatedCluster:
    sim: ApiSimulator
    stack: LocalStack
    kubeconfig: Path

    def experiment(self, folder: Path, name: str, **overrides: Any) -> Path:
        kubernetes = {"namespace": NAMESPACE, "allowed_contexts": [CONTEXT], "workload": "deployment/shop",
                      **overrides.pop("kubernetes", {})}
        return write_experiment(folder, name, target={"platform": "kubernetes", "kubernetes": kubernetes},
                                prometheus={"url": self.stack.prometheus_url},
                                load={"profile": "profile.yaml", "host": self.stack.edge_url}, **overrides)

    def chaos_objects(self) -> list[str]:
        return [name for (plural, _, name) in self.sim.cluster.chaos.objects if plural == NETWORKCHAOS]


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory, resident_processes: set[int]) -> Iterator[LocalStack]:
    """The cluster's workload, started once for the module: each test gets its own API server over it
    and finds it settled (every replica ready, no fault in its proxy)."""
    before = {p.pid for p in matching_processes()}
    base = tmp_path_factory.mktemp("cluster")
    stack = LocalStack(base, replicas=3, restart_delay_s=1.0)
    stack.start()
    roots = {p.pid for p in matching_processes() if p.pid not in before}
    resident_processes.update(roots)
    try:
        yield stack
    finally:
        stack.stop()
        resident_processes.difference_update(roots)
    assert wait_no_leftovers(before, str(base)) == []


def _settled(stack: LocalStack, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (len(stack.replicas()) == 3 and all(r.ready for r in stack.replicas())):
        assert time.monotonic() < deadline, f"the workload's replicas are not all ready: {stack.replicas()}"
        time.sleep(0.1)
    assert stack.fault_proxy.active() == {}, "a fault from an earlier test is still in the proxy"


@pytest.fixture
def cluster(workload: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatedCluster]:
    _settled(workload)
    with ApiSimulator() as sim:
        sim.cluster.add_workload("Deployment", "shop", NAMESPACE, {"app": "shop"}, LocalReplicas(workload))
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", CONTEXT, NAMESPACE, extra_contexts=("prod",))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))  # `harness run` subprocesses inherit it
        yield SimulatedCluster(sim, workload, kubeconfig)
    left = workload.fault_proxy.active()
    for name in left:  # the next test starts without it either way
        workload.fault_proxy.delete(name)
    assert left == {}, f"faults left in the workload's proxy: {left}"


@pytest.mark.parametrize("mode", ["delete", "evict"])
def test_pod_kill_under_load_passes_with_the_measured_time_to_ready(cluster: SimulatedCluster, tmp_path: Path,
                                                                     mode: str) -> None:
    cluster.sim.cluster.add_pdb("shop", NAMESPACE, {"app": "shop"}, min_available=2)  # one of three may go
    experiment = cluster.experiment(
        tmp_path, f"k8s-pod-kill-{mode}", slos=[availability_slo(objective=95)],
        faults=[{"name": "kill-one", "type": "pod-kill", "at": "2s", "count": 1, "grace_period": "0s",
                 "mode": mode}],
        hypothesis=[{"slo": "shop-availability", "max_budget_consumed": "5%"}],
        expect=[{"replicas_ready": 3, "within": "10s"}])
    run = run_cli(experiment, tmp_path / "runs")
    assert run.exit_code == 0, run.stderr[-3000:]
    assert run.result["verdict"] == "PASS"
    fault = run.fault("kill-one")
    assert fault["took_effect"] is True, fault
    done = {"delete": "deleted", "evict": "evicted"}[mode]
    assert f"1 pod(s) {done}, 1 replaced with a new UID" in fault["observed"]
    assert cluster.sim.cluster.deleted_pods == list(fault["targets"])
    evictions = [path for method, path in cluster.sim.requests if method == "POST" and path.endswith("/eviction")]
    assert len(evictions) == (1 if mode == "evict" else 0)
    ready = run.result["expectations"][0]
    assert ready["verdict"] == "PASS"
    # the supervisor restarts the replica 1 s after the kill; it is ready again a little later
    assert 0.5 <= float(ready["observed"].removesuffix("s")) <= 10.0, ready
    assert run.slo("shop-availability")["phases"]["fault"]["total"] > 300


def test_chaos_mesh_latency_fails_the_latency_slo_and_is_deleted_afterwards(cluster: SimulatedCluster,
                                                                          tmp_path: Path) -> None:
    experiment = cluster.experiment(
        tmp_path, "k8s-latency", kubernetes={"max_percent": "100%"},
        slos=[availability_slo(), latency_slo()],
        faults=[{"name": "slow", "type": "latency", "at": "1s", "duration": "6s", "delay": "300ms"}],
        hypothesis=[{"slo": "shop-availability"}, {"slo": "shop-latency"}])
    run = run_cli(experiment, tmp_path / "runs")
    assert run.exit_code == 1, run.stderr[-3000:]
    latency = run.slo("shop-latency")
    assert latency["phases"]["fault"]["verdict"] == "FAIL"
    assert latency["phases"]["baseline"]["verdict"] == "PASS"
    # it ends 1 s before recovery, which the scrape interval and its 300 ms delay can reach: said before the run
    edge = "fault slow ends 1s before the recovery phase is judged"
    assert any(w.startswith(edge) and "end the fault at least 1.3s before" in w for w in run.result["warnings"])
    assert edge in run.stderr
    fault = run.fault("slow")
    assert fault["reverted"] is True and fault["took_effect"] is True, fault
    assert "reported AllInjected on 3 pod(s)" in fault["observed"]
    assert cluster.sim.cluster.chaos.created and cluster.chaos_objects() == []
    assert cluster.stack.fault_proxy.active() == {}
    reverted = [e for e in journal_entries(run.run_dir) if e["event"] == "reverted"]
    assert reverted[0]["result"].startswith("deleted networkchaos harness-slow-")


def test_a_kill_the_blast_radius_forbids_is_refused_before_any_load(cluster: SimulatedCluster,
                                                                    tmp_path: Path) -> None:
    cluster.sim.cluster.add_pdb("shop", NAMESPACE, {"app": "shop"}, min_available=3)
    experiment = cluster.experiment(tmp_path, "k8s-pdb",
                                    faults=[{"name": "kill-one", "type": "pod-kill", "at": "2s", "count": 1}])
    run = run_cli(experiment, tmp_path / "runs")
    assert run.exit_code == 2, run.stderr[-3000:]
    assert (f"{experiment}: faults[0].count: fault kill-one: PodDisruptionBudget shop requires minAvailable 3 "
            "(3 healthy); 3 are healthy now and killing 1 would leave 2: refusing (nothing was injected)"
            in run.result["reason"])
    assert cluster.sim.cluster.deleted_pods == []
    assert not (run.run_dir / "load").exists() or not any((run.run_dir / "load").iterdir())
    assert "Traceback" not in run.stderr


def test_a_context_not_allowed_is_refused(cluster: SimulatedCluster, tmp_path: Path) -> None:
    experiment = cluster.experiment(tmp_path, "k8s-context", kubernetes={"allowed_contexts": ["prod"]},
                                    faults=[{"name": "kill-one", "type": "pod-kill", "at": "2s"}])
    run = run_cli(experiment, tmp_path / "runs")
    assert run.exit_code == 2, run.stderr[-3000:]
    assert "target.kubernetes.allowed_contexts: kubernetes context 'kind-gate' is not in allowed_contexts (prod)" \
        in run.result["reason"]
    assert cluster.sim.cluster.deleted_pods == []
    assert "Traceback" not in run.stderr


def test_an_unreachable_api_server_is_an_environment_error(cluster: SimulatedCluster, tmp_path: Path) -> None:
    experiment = cluster.experiment(tmp_path, "k8s-gone", faults=[{"name": "kill-one", "type": "pod-kill"}])
    cluster.sim.go_away()
    run = run_cli(experiment, tmp_path / "runs")
    assert run.exit_code == 5, run.stderr[-3000:]
    assert "context kind-gate, namespace shop" in run.result["reason"]
    assert "unreachable" in run.result["reason"]
    assert "Traceback" not in run.stderr


LONG = {"warmup": "2s", "baseline": "4s", "fault": "20s", "recovery": "4s"}
LONG_LATENCY = {"name": "slow-long", "type": "latency", "at": "1s", "duration": "18s", "delay": "200ms"}


def rollback(run_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(harness_argv("rollback", str(run_dir)), capture_output=True, text=True, timeout=60,
                          cwd=REPO, check=False)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_sigterm_or_sigkill_and_rollback_leave_no_chaos_mesh_resource(cluster: SimulatedCluster, tmp_path: Path,
                                                                       start_cli: Any, how: str) -> None:
    experiment = cluster.experiment(tmp_path, f"k8s-{how.lower()}", kubernetes={"max_percent": "100%"},
                                    phases=LONG, faults=[LONG_LATENCY])
    running: RunningCli = start_cli(experiment)
    running.wait_for_journal("applied")
    assert len(cluster.chaos_objects()) == 1
    running.proc.send_signal(signal.Signals[how])
    code = running.wait(timeout_s=60)
    run_dir = running.run_dir()
    if how == "SIGTERM":
        assert code == 4, running.stderr()[-3000:]
        assert read_json(run_dir / "result.json")["verdict"] == "ABORTED"
        assert cluster.chaos_objects() == []
    else:
        assert code == -signal.SIGKILL
        assert len(cluster.chaos_objects()) == 1  # left behind by the crash: Chaos Mesh's duration or rollback
    done = rollback(run_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert cluster.chaos_objects() == []
    assert cluster.stack.fault_proxy.active() == {}
    if how == "SIGKILL":
        assert "ok     slow-long: deleted networkchaos harness-slow-long-" in done.stdout


def test_the_api_server_gone_mid_run_is_exit_5_and_rollback_finishes_later(cluster: SimulatedCluster,
                                                                           tmp_path: Path, start_cli: Any) -> None:
    experiment = cluster.experiment(tmp_path, "k8s-api-gone", kubernetes={"max_percent": "100%"},
                                    phases={**LONG, "fault": "8s"}, faults=[{**LONG_LATENCY, "duration": "6s"}])
    running: RunningCli = start_cli(experiment)
    running.wait_for_journal("applied")
    cluster.sim.go_away()
    code = running.wait(timeout_s=90)
    assert code == 5, running.stderr()[-3000:]
    result = read_json(running.run_dir() / "result.json")
    assert "rollback failed for slow-long" in result["reason"]
    failed = [e for e in journal_entries(running.run_dir()) if e["event"] == "revert-failed"]
    assert "unreachable" in failed[0]["error"] and "context kind-gate, namespace shop" in failed[0]["error"]
    assert len(cluster.chaos_objects()) == 1
    cluster.sim.come_back()
    done = rollback(running.run_dir())
    assert done.returncode == 0, done.stdout + done.stderr
    assert cluster.chaos_objects() == [] and cluster.stack.fault_proxy.active() == {}


def test_the_api_server_gone_before_the_injection_is_exit_5_with_nothing_injected(
        cluster: SimulatedCluster, tmp_path: Path, start_cli: Any) -> None:
    experiment = cluster.experiment(tmp_path, "k8s-gone-before",
                                    faults=[{"name": "kill-one", "type": "pod-kill", "at": "3s"}])
    running: RunningCli = start_cli(experiment)
    deadline = time.monotonic() + 60
    while not (running.run_dir() / "load").is_dir():  # the faults were aimed, the load has started
        assert time.monotonic() < deadline and running.proc.poll() is None, running.stderr()[-2000:]
        time.sleep(0.1)
    cluster.sim.go_away()
    assert running.wait(timeout_s=90) == 5, running.stderr()[-3000:]
    result = read_json(running.run_dir() / "result.json")
    # the workload's selector is read first, right before the injection
    assert result["reason"].startswith("fault kill-one was not injected: kubernetes (context kind-gate, namespace "
                                       "shop): cannot get deployment/shop: the API server at http://127.0.0.1:")
    assert result["reason"].endswith("is unreachable (MaxRetryError)")
    assert cluster.sim.cluster.deleted_pods == []
    assert [e["event"] for e in journal_entries(running.run_dir())] == []
