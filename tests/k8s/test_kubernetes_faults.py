"""The kubernetes platform and its fault drivers against the simulator: policy, proof, undo, failures."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes.config import kube_config

from harness.errors import BlastRadiusError, HarnessError, PlatformError
from harness.faults.base import FaultContext
from harness.faults.registry import prepare
from harness.faults.undo import apply_undo
from harness.plan import FaultSlot
from harness.platform.base import Readiness
from harness.platform.kubernetes.platform import KubernetesPlatform
from harness.run.journal import Journal, pending, rollback
from harness.spec.faults import FaultBase
from harness.spec.models import Experiment, KubernetesTarget
from tests.faults import make_runner
from tests.k8s.conftest import CONTEXT, NAMESPACE, SimCluster
from tests.k8s.replicas import FakeReplicas

NETWORKCHAOS = "networkchaos"


def target(**overrides: Any) -> KubernetesTarget:
    fields: dict[str, Any] = {"namespace": NAMESPACE, "allowed_contexts": [CONTEXT], "workload": "deployment/shop",
                              **overrides}
    return KubernetesTarget.model_validate(fields)


def started(**overrides: Any) -> KubernetesPlatform:
    platform = KubernetesPlatform(target(**overrides), "http://127.0.0.1:9", None)
    platform.start()
    return platform


def fault(**fields: Any) -> FaultBase:
    doc = {"apiVersion": "harness/v1", "kind": "Experiment", "metadata": {"name": "k"},
           "target": {"platform": "kubernetes", "kubernetes": {"namespace": NAMESPACE, "workload": "deployment/shop"}},
           "prometheus": {"url": "http://127.0.0.1:9"},
           "slos": [{"name": "s", "objective": 99, "sli": {"ratio": {"bad": "a_total", "total": "b_total"}}}],
           "load": {"profile": "p"}, "faults": [fields], "hypothesis": [{"slo": "s"}]}
    return Experiment.model_validate(doc).faults[0]


def context(platform: KubernetesPlatform, tmp_path: Path) -> FaultContext:
    return FaultContext(platform, tmp_path, tmp_path / "experiment.yaml", 0, "20261204T000000Z-k")


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# -- connection and context allowlist ------------------------------------------------------------------


def test_the_current_context_is_used_and_must_be_allowed(sim_cluster: SimCluster) -> None:
    assert started().connection.context == CONTEXT
    with pytest.raises(BlastRadiusError, match="context 'kind-gate' is not in allowed_contexts \\(prod\\)"):
        started(allowed_contexts=["prod"])
    with pytest.raises(BlastRadiusError, match="lists no allowed_contexts and names no context"):
        started(allowed_contexts=[])


def test_a_named_context_is_allowed_by_naming_it(sim_cluster: SimCluster) -> None:
    assert started(allowed_contexts=[], context="prod").connection.context == "prod"
    with pytest.raises(PlatformError, match=r"context staging is not in .*kubeconfig \(it has: kind-gate, prod\)"):
        started(context="staging")


def test_kubernetes_host_from_the_environment(sim_cluster: SimCluster, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("KUBERNETES_HOST", sim_cluster.sim.url)
    assert started(allowed_contexts=[sim_cluster.sim.url]).replicas()[0].uid


@pytest.mark.parametrize(("switch", "message"), [
    ("unreachable", "context kind-gate, namespace shop\\): cannot get namespace shop: the API server at .* is "
                    "unreachable"),
    ("forbidden", "context kind-gate, namespace shop\\): cannot get deployment/shop: RBAC denied it"),
], ids=["unreachable", "rbac_denied"])
def test_environment_failures_name_context_namespace_and_resource(sim_cluster: SimCluster, switch: str,
                                                                  message: str) -> None:
    if switch == "unreachable":
        sim_cluster.sim.go_away()
    else:
        sim_cluster.sim.deny("get", "deployments")
    with pytest.raises(PlatformError, match=message):
        started()


# -- pod-kill ----------------------------------------------------------------------------------------------


def test_pod_kill_terminates_the_chosen_pod_and_proves_its_uid_changed(sim_cluster: SimCluster,
                                                                       tmp_path: Path) -> None:
    platform = started()
    prepared = prepare(fault(name="kill", type="pod-kill", count=1, grace_period="0s"), context(platform, tmp_path))
    assert len(prepared.targets) == 1
    details = prepared.apply()
    assert [k["pod"] for k in details["killed"]] == list(prepared.targets)
    assert sim_cluster.sim.cluster.deleted_pods == list(prepared.targets)
    assert prepared.verify is not None
    assert wait_until(lambda: platform.readiness() is not None and platform.readiness().ready == 3)  # type: ignore[union-attr]
    check = prepared.verify(details)
    assert check.took_effect is True, check.observed
    assert check.observed == "1 pod(s) deleted, 1 replaced with a new UID (1 ready)"


def test_pod_kill_by_eviction_goes_through_the_eviction_api(sim_cluster: SimCluster, tmp_path: Path) -> None:
    sim_cluster.sim.cluster.add_pdb("shop", NAMESPACE, {"app": "shop"}, min_available=2)
    prepared = prepare(fault(name="evict", type="pod-kill", mode="evict"), context(started(), tmp_path))
    prepared.apply()
    assert ("POST", f"/api/v1/namespaces/{NAMESPACE}/pods/{prepared.targets[0]}/eviction") \
        in sim_cluster.sim.requests


@pytest.mark.parametrize(("fields", "setup", "message"), [
    ({"count": 2}, {"max_percent": "50%"}, "2 of 3 ready pods is 67%, over the blast radius of 50% \\(at most 1\\)"),
    ({"count": 4}, {"max_percent": "100%"}, "asks for 4 pods but only 3 of 3 are ready"),
    ({"selector": {"app": "nothing"}}, {}, "selector app=nothing in namespace shop matches no pod"),
    ({"count": 1}, {"pdb": 3}, "PodDisruptionBudget shop requires minAvailable 3 \\(3 healthy\\); 3 are healthy now "
                               "and killing 1 would leave 2"),
    ({"count": 2}, {"max_percent": "100%", "max_pods": 1}, "2 pods is over the blast radius of max_pods 1"),
], ids=["over_the_share", "more_than_ready", "selector_matches_nothing", "below_the_pdb", "over_max_pods"])
def test_the_blast_radius_policy_refuses_with_the_numbers(sim_cluster: SimCluster, tmp_path: Path,
                                                          fields: dict[str, Any], setup: dict[str, Any],
                                                          message: str) -> None:
    if "pdb" in setup:
        sim_cluster.sim.cluster.add_pdb("shop", NAMESPACE, {"app": "shop"}, min_available=setup.pop("pdb"))
    platform = started(**setup)
    with pytest.raises(BlastRadiusError, match=message):
        prepare(fault(name="kill", type="pod-kill", **fields), context(platform, tmp_path))
    assert sim_cluster.sim.cluster.deleted_pods == []


def test_rbac_denied_delete_is_an_environment_error(sim_cluster: SimCluster, tmp_path: Path) -> None:
    sim_cluster.sim.deny("delete", "pods")
    prepared = prepare(fault(name="kill", type="pod-kill"), context(started(), tmp_path))
    with pytest.raises(PlatformError, match=r"cannot delete pods shop-.*: RBAC denied it"):
        prepared.apply()


# -- Chaos Mesh ----------------------------------------------------------------------------------------------


def test_latency_is_a_networkchaos_with_its_duration_deleted_by_its_undo(sim_cluster: SimCluster,
                                                                        tmp_path: Path) -> None:
    platform = started(max_percent="100%")
    prepared = prepare(fault(name="slow", type="latency", delay="300ms", duration="10s"), context(platform, tmp_path))
    assert prepared.undo is not None and prepared.undo["kind"] == "chaos-mesh"
    name = prepared.undo["name"]
    details = prepared.apply()
    created = sim_cluster.sim.cluster.chaos.objects[(NETWORKCHAOS, NAMESPACE, name)]
    assert created["spec"]["duration"] == "10000ms"
    assert created["spec"]["delay"]["latency"] == "300ms"
    assert created["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "harness"
    assert sim_cluster.replicas.faults[f"{NAMESPACE}.{name}"]["delay_s"] == 0.3
    assert prepared.verify is not None and prepared.verify(details).took_effect is True
    assert apply_undo(prepared.undo).startswith(f"deleted networkchaos {name}")
    assert sim_cluster.sim.cluster.chaos.objects == {} and sim_cluster.replicas.faults == {}
    assert apply_undo(prepared.undo).endswith("was already gone")  # safe to run twice


def test_a_chaos_resource_that_never_reports_injected_did_not_take_effect(sim_cluster: SimCluster,
                                                                         tmp_path: Path) -> None:
    prepared = prepare(fault(name="burn", type="cpu-stress", duration="5s"), context(started(max_percent="100%"),
                                                                                     tmp_path))
    details = prepared.apply()
    assert prepared.verify is not None
    check = prepared.verify(details)
    assert check.took_effect is False and "did not report AllInjected" in check.observed
    assert prepared.undo is not None
    apply_undo(prepared.undo)


def test_missing_chaos_mesh_crds_stop_before_anything_is_created(sim_cluster: SimCluster, tmp_path: Path) -> None:
    sim_cluster.sim.cluster.chaos.installed = False
    with pytest.raises(PlatformError, match=re.escape("cannot discover chaos-mesh.org/v1alpha1 (are the "
                                                      "Chaos Mesh CRDs installed?): not found")):
        prepare(fault(name="slow", type="latency", delay="1s", duration="5s"), context(started(), tmp_path))


def test_rollback_deletes_what_the_journal_says_is_left_once_the_api_is_back(sim_cluster: SimCluster,
                                                                             tmp_path: Path) -> None:
    platform = started(max_percent="100%")
    prepared = prepare(fault(name="hole", type="blackhole", duration="30s"), context(platform, tmp_path))
    assert prepared.undo is not None
    journal = Journal(tmp_path)
    journal.write("intent", "hole", type="blackhole", targets=list(prepared.targets), undo=prepared.undo)
    prepared.apply()
    journal.write("applied", "hole", undo=None)
    sim_cluster.sim.go_away()
    with pytest.raises(HarnessError, match="unreachable"):
        apply_undo(prepared.undo)
    assert [p.fault for p in pending(tmp_path)] == ["hole"]
    sim_cluster.sim.come_back()
    outcomes = rollback(tmp_path)
    assert [(o.fault, o.ok) for o in outcomes] == [("hole", True)]
    assert sim_cluster.sim.cluster.chaos.objects == {}
    assert pending(tmp_path) == [] and rollback(tmp_path) == []


# -- at injection time, and the client's import-time kubeconfig ------------------------------------------


def test_a_refusal_right_before_the_injection_leaves_the_fault_uninjected(sim_cluster: SimCluster,
                                                                          tmp_path: Path) -> None:
    """The policy is checked again at the injection: a PDB added since the run started refuses the kill."""
    platform = started()
    kill = fault(name="kill", type="pod-kill", count=1)
    prepare(kill, context(platform, tmp_path))  # allowed before the run
    sim_cluster.sim.cluster.add_pdb("shop", NAMESPACE, {"app": "shop"}, min_available=3)
    runner = make_runner(tmp_path, tmp_path / "experiment.yaml", platform)
    record = runner.inject(FaultSlot(0, kill, 0.0, 0.0))
    assert record.started is None
    assert record.error is not None and "PodDisruptionBudget shop requires minAvailable 3" in record.error
    assert sim_cluster.sim.cluster.deleted_pods == [] and pending(tmp_path) == []
    runner.verify_all()
    assert record.check is not None and record.check.took_effect is False


def test_chaosk8s_reading_another_kubeconfig_than_the_harness_checked_is_refused(
        sim_cluster: SimCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    platform = started()
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "other-kubeconfig"))
    with pytest.raises(PlatformError, match=r"chaosk8s would read .*other-kubeconfig, but the harness checked "
                                            r".*kubeconfig: set KUBECONFIG before the harness starts"):
        prepare(fault(name="kill", type="pod-kill"), context(platform, tmp_path))


@pytest.mark.parametrize(("fields", "plural", "spec", "rule"), [
    ({"type": "http-error", "rate": "100%", "status": 502}, "httpchaos",
     {"target": "Response", "port": 8080, "path": "*", "replace": {"code": 502}},
     {"kind": "http-error", "rate": 1.0, "status": 502}),
    ({"type": "blackhole"}, NETWORKCHAOS, {"action": "loss", "direction": "to",
                                           "loss": {"loss": "100", "correlation": "0"}},
     {"kind": "blackhole", "hold_s": 5.0}),
], ids=["http_error_as_httpchaos", "blackhole_as_networkchaos_loss"])
def test_each_chaos_fault_becomes_its_resource(sim_cluster: SimCluster, tmp_path: Path, fields: dict[str, Any],
                                               plural: str, spec: dict[str, Any], rule: dict[str, Any]) -> None:
    prepared = prepare(fault(name="f", duration="5s", **fields), context(started(max_percent="100%"), tmp_path))
    prepared.apply()
    assert prepared.undo is not None
    created = sim_cluster.sim.cluster.chaos.objects[(plural, NAMESPACE, prepared.undo["name"])]["spec"]
    assert {key: created[key] for key in spec} == spec
    assert created["duration"] == "5000ms" and created["mode"] == "all"
    assert created["selector"] == {"namespaces": [NAMESPACE], "labelSelectors": {"app": "shop"}}
    assert sim_cluster.replicas.faults == {f"{NAMESPACE}.{prepared.undo['name']}": {**rule, "targets": [0, 1, 2]}}
    apply_undo(prepared.undo)
    assert sim_cluster.replicas.faults == {}


def test_the_api_server_gone_before_an_injection_is_an_environment_failure(sim_cluster: SimCluster,
                                                                          tmp_path: Path) -> None:
    platform = started()
    sim_cluster.sim.go_away()
    runner = make_runner(tmp_path, tmp_path / "experiment.yaml", platform)
    record = runner.inject(FaultSlot(0, fault(name="kill", type="pod-kill"), 0.0, 0.0))
    assert record.started is None and record.environment_failed is True
    assert record.error is not None and "unreachable" in record.error


def test_a_statefulset_pod_comes_back_under_its_name_with_a_new_uid(sim_cluster: SimCluster, tmp_path: Path) -> None:
    database = FakeReplicas(2, start_delay_s=0.2)
    sim_cluster.sim.cluster.add_workload("StatefulSet", "db", NAMESPACE, {"app": "db"}, database)
    platform = started(workload="statefulset/db")
    assert platform.readiness() == Readiness(2, 2)
    prepared = prepare(fault(name="kill-db", type="pod-kill"), context(platform, tmp_path))
    assert prepared.targets[0] in ("db-0", "db-1")
    details = prepared.apply()
    assert wait_until(lambda: platform.readiness() == Readiness(2, 2))
    assert prepared.verify is not None and prepared.verify(details).took_effect is True
    assert prepared.targets[0] in {r.name for r in platform.replicas()}  # same name, new UID
    assert details["killed"][0]["uid"] not in {r.uid for r in platform.replicas()}
