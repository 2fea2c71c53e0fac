"""The simulator answers the real `kubernetes` client and `chaosk8s` as an API server would."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest
from chaosk8s import create_k8s_api_client
from chaosk8s.chaosmesh.network.actions import add_latency, delete_network_fault
from chaosk8s.pod.actions import terminate_pods
from kubernetes import client

from tests.k8s.conftest import CONTEXT, NAMESPACE, SimCluster
from tests.k8s.selectors import selector
from tests.k8s.server import ApiSimulator


def core() -> client.CoreV1Api:
    return client.CoreV1Api(create_k8s_api_client({"KUBERNETES_CONTEXT": CONTEXT}))


@dataclass(frozen=True)
class PodSeen:
    name: str
    uid: str
    labels: dict[str, str]


def pods(label_selector: str | None = None, field_selector: str | None = None) -> list[PodSeen]:
    listed = core().list_namespaced_pod(NAMESPACE, label_selector=label_selector, field_selector=field_selector)
    return [PodSeen(str(m.name), str(m.uid), dict(m.labels or {}))
            for m in (p.metadata for p in listed.items) if m is not None]


def ready_replicas() -> int:
    status = client.AppsV1Api(create_k8s_api_client()).read_namespaced_deployment("shop", NAMESPACE).status
    return int(status.ready_replicas or 0) if status is not None else -1


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(("text", "labels", "matches"), [
    ("app=shop", {"app": "shop"}, True),
    ("app=shop,tier!=db", {"app": "shop", "tier": "db"}, False),
    ("tier in (web, api)", {"tier": "api"}, True),
    ("tier notin (web)", {"tier": "web"}, False),
    ("canary", {"canary": "1"}, True),
    ("!canary", {"canary": "1"}, False),
    ("", {"x": "y"}, True),
], ids=["equal", "not_equal", "in_set", "notin_set", "exists", "not_exists", "empty"])
def test_label_selectors(text: str, labels: dict[str, str], matches: bool) -> None:
    assert selector(text)(labels) is matches


def test_pods_list_by_label_and_field_selector(sim_cluster: SimCluster) -> None:
    sim_cluster.sim.cluster.add_workload("StatefulSet", "db", NAMESPACE, {"app": "db"},
                                         type(sim_cluster.replicas)(1))
    shop = pods(label_selector="app=shop")
    assert len(shop) == 3 and all(p.labels["app"] == "shop" for p in shop)
    assert [p.name for p in pods(field_selector=f"metadata.name={shop[1].name}")] == [shop[1].name]
    assert [p.name for p in pods(label_selector="app=db")] == ["db-0"]


def test_terminate_pods_kills_the_replica_and_the_controller_recreates_the_pod(sim_cluster: SimCluster) -> None:
    before = {p.uid for p in pods()}
    deleted = terminate_pods(label_selector="app=shop", ns=NAMESPACE, qty=1, secrets={"KUBERNETES_CONTEXT": CONTEXT})
    assert len(deleted) == 1 and len(sim_cluster.replicas.kills) == 1
    assert len(pods()) == 2
    assert wait_until(lambda: len(pods(field_selector="status.phase=Running")) == 3)
    assert len({p.uid for p in pods()} - before) == 1
    assert ready_replicas() == 3


def test_a_recreated_pod_is_not_ready_until_its_replica_is_back(sim_cluster: SimCluster) -> None:
    sim_cluster.sim.cluster.recreate_delay_s = 0.0
    sim_cluster.replicas._delay = 1.0
    core().delete_namespaced_pod(pods()[0].name, NAMESPACE)
    assert wait_until(lambda: len(pods()) == 3)
    assert ready_replicas() == 2
    assert wait_until(lambda: ready_replicas() == 3)


def test_eviction_honours_the_pdb(sim_cluster: SimCluster) -> None:
    sim_cluster.sim.cluster.add_pdb("shop", NAMESPACE, {"app": "shop"}, min_available=2)
    shop = pods()

    def evict(name: str) -> None:
        core().create_namespaced_pod_eviction(name, NAMESPACE, client.V1Eviction(
            metadata=client.V1ObjectMeta(name=name, namespace=NAMESPACE)))

    evict(shop[0].name)  # 3 healthy, 2 required: one may go
    with pytest.raises(client.ApiException) as refused:
        evict(shop[1].name)
    assert refused.value.status == 429
    policy = client.PolicyV1Api(create_k8s_api_client())
    status = policy.list_namespaced_pod_disruption_budget(NAMESPACE).items[0].status
    assert status is not None
    assert (status.current_healthy, status.desired_healthy, status.disruptions_allowed) == (2, 2, 0)


def test_rbac_denied_and_unreachable_are_switchable(sim_cluster: SimCluster) -> None:
    sim_cluster.sim.deny("delete", "pods")
    with pytest.raises(client.ApiException) as denied:
        core().delete_namespaced_pod(pods()[0].name, NAMESPACE)
    assert denied.value.status == 403 and "cannot delete" in str(denied.value.body)
    sim_cluster.sim.go_away()
    api = client.CoreV1Api(create_k8s_api_client())
    with pytest.raises(Exception, match=r"Connection refused|Max retries"):
        api.list_namespaced_pod(NAMESPACE, _request_timeout=2)
    sim_cluster.sim.come_back()
    assert len(pods()) == 3


def test_chaos_mesh_latency_through_chaosk8s_reaches_the_replicas_and_goes_on_delete(sim_cluster: SimCluster) -> None:
    created: dict[str, Any] = add_latency("slow", ns=NAMESPACE, label_selectors="app=shop", mode="all", latency="300ms")
    injected = {c["type"]: c["status"] for c in created["status"]["conditions"]}
    assert injected["AllInjected"] == "True"
    assert sim_cluster.replicas.faults == {"shop.slow": {"kind": "latency", "delay_s": 0.3, "jitter_s": 0.0,
                                                          "targets": [0, 1, 2]}}
    delete_network_fault("slow", ns=NAMESPACE)
    assert sim_cluster.replicas.faults == {}
    objects = client.CustomObjectsApi(create_k8s_api_client())
    assert cast(dict[str, Any], objects.list_namespaced_custom_object(
        "chaos-mesh.org", "v1alpha1", NAMESPACE, "networkchaos"))["items"] == []


def test_chaos_mesh_duration_recovers_and_missing_crds_are_404(sim_cluster: SimCluster) -> None:
    objects = client.CustomObjectsApi(create_k8s_api_client())
    body = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos", "metadata": {"name": "brief"},
            "spec": {"action": "delay", "mode": "all", "selector": {"labelSelectors": {"app": "shop"}},
                     "delay": {"latency": "100ms"}, "duration": "300ms"}}
    objects.create_namespaced_custom_object("chaos-mesh.org", "v1alpha1", NAMESPACE, "networkchaos", body)
    assert sim_cluster.replicas.faults
    assert wait_until(lambda: not sim_cluster.replicas.faults)
    status = cast(dict[str, Any], objects.get_namespaced_custom_object("chaos-mesh.org", "v1alpha1", NAMESPACE,
                                                                       "networkchaos", "brief"))
    assert {c["type"]: c["status"] for c in status["status"]["conditions"]}["AllRecovered"] == "True"
    sim_cluster.sim.cluster.chaos.installed = False
    with pytest.raises(client.ApiException) as missing:
        objects.get_api_resources("chaos-mesh.org", "v1alpha1")
    assert missing.value.status == 404


def test_the_simulator_binds_loopback_on_a_free_port_and_stops_cleanly() -> None:
    before = {t.name for t in threading.enumerate()}
    with ApiSimulator() as sim:
        assert sim.url.startswith("http://127.0.0.1:") and sim.port > 0
        with socket.create_connection(("127.0.0.1", sim.port), timeout=2):
            pass
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", sim.port), timeout=2):
        pass
    assert not {t.name for t in threading.enumerate() if t.name.startswith("k8s-sim")} - before
