"""What the harness reads from and does to the cluster, with every failure named (context, namespace, resource).

Reads return small frozen values, so the blast-radius policy (`policy.py`) stays pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.platform.kubernetes.connection import Connection, environment_error

CHAOS_GROUP, CHAOS_VERSION = "chaos-mesh.org", "v1alpha1"
TIMEOUT_S = 5.0
T = TypeVar("T")


@dataclass(frozen=True)
class PodInfo:
    name: str
    uid: str
    labels: Mapping[str, str]
    ready: bool


@dataclass(frozen=True)
class Budget:
    """A PodDisruptionBudget as its status reports it."""

    name: str
    match_labels: Mapping[str, str]
    current_healthy: int
    desired_healthy: int
    disruptions_allowed: int
    min_available: str | None


@dataclass(frozen=True)
class WorkloadStatus:
    desired: int
    ready: int


class Cluster:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.namespace = connection.namespace
        self._core = client.CoreV1Api(connection.api)
        self._apps = client.AppsV1Api(connection.api)
        self._policy = client.PolicyV1Api(connection.api)
        self._objects = client.CustomObjectsApi(connection.api)

    def _call(self, action: str, resource: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except Exception as err:  # every API or network failure becomes one PlatformError naming it
            raise environment_error(err, self.connection, action, resource) from err

    def check_namespace(self) -> None:
        self._call("get", f"namespace {self.namespace}",
                   lambda: self._core.read_namespace(self.namespace, _request_timeout=TIMEOUT_S))

    def pods(self, labels: Mapping[str, str]) -> list[PodInfo]:
        text = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        listed = self._call("list", f"pods ({text})", lambda: self._core.list_namespaced_pod(
            self.namespace, label_selector=text, _request_timeout=TIMEOUT_S))
        return sorted((_pod(p) for p in listed.items), key=lambda p: p.name)

    def workload(self, ref: str) -> tuple[dict[str, str], WorkloadStatus]:
        """A `deployment/NAME` or `statefulset/NAME`: its selector's match labels and its status."""
        kind, name = ref.split("/", 1)
        apps, namespace = self._apps, self.namespace
        found: client.V1Deployment | client.V1StatefulSet = self._call("get", ref, lambda: (
            apps.read_namespaced_deployment(name, namespace, _request_timeout=TIMEOUT_S) if kind == "deployment"
            else apps.read_namespaced_stateful_set(name, namespace, _request_timeout=TIMEOUT_S)))
        selector = found.spec.selector.match_labels if found.spec and found.spec.selector else None
        status = found.status
        desired = int(found.spec.replicas or 0) if found.spec else 0
        ready = int(status.ready_replicas or 0) if status else 0
        return dict(selector or {}), WorkloadStatus(desired, ready)

    def budgets(self) -> list[Budget]:
        listed = self._call("list", "poddisruptionbudgets", lambda: self._policy.list_namespaced_pod_disruption_budget(
            self.namespace, _request_timeout=TIMEOUT_S))
        return [_budget(b) for b in listed.items]

    def evict(self, pod: str) -> None:
        body = client.V1Eviction(metadata=client.V1ObjectMeta(name=pod, namespace=self.namespace))
        self._call("create", f"pods/eviction of {pod}", lambda: self._core.create_namespaced_pod_eviction(
            pod, self.namespace, body, _request_timeout=TIMEOUT_S))

    # -- Chaos Mesh ----------------------------------------------------------------------------------

    def chaos_kinds(self) -> set[str]:
        """The Chaos Mesh resources the API server serves (their CRDs are installed)."""
        listed = self._call("discover", f"{CHAOS_GROUP}/{CHAOS_VERSION} (are the Chaos Mesh CRDs installed?)",
                            lambda: self._objects.get_api_resources(CHAOS_GROUP, CHAOS_VERSION,
                                                                    _request_timeout=TIMEOUT_S))
        return {r.name for r in (listed.resources or [])}

    def chaos_object(self, plural: str, name: str) -> dict[str, Any] | None:
        try:
            found = self._objects.get_namespaced_custom_object(CHAOS_GROUP, CHAOS_VERSION, self.namespace, plural,
                                                               name, _request_timeout=TIMEOUT_S)
        except ApiException as err:
            if err.status == 404:
                return None
            raise environment_error(err, self.connection, "get", f"{plural} {name}") from err
        except Exception as err:
            raise environment_error(err, self.connection, "get", f"{plural} {name}") from err
        return cast(dict[str, Any], found)

    def delete_chaos_object(self, plural: str, name: str) -> bool:
        """Delete it; False when it was already gone."""
        try:
            self._objects.delete_namespaced_custom_object(CHAOS_GROUP, CHAOS_VERSION, self.namespace, plural, name,
                                                          _request_timeout=TIMEOUT_S)
        except ApiException as err:
            if err.status == 404:
                return False
            raise environment_error(err, self.connection, "delete", f"{plural} {name}") from err
        except Exception as err:
            raise environment_error(err, self.connection, "delete", f"{plural} {name}") from err
        return True


def _pod(pod: client.V1Pod) -> PodInfo:
    meta = pod.metadata or client.V1ObjectMeta()
    conditions = (pod.status.conditions if pod.status else None) or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return PodInfo(str(meta.name), str(meta.uid), dict(meta.labels or {}), ready)


def _budget(pdb: client.V1PodDisruptionBudget) -> Budget:
    spec, status = pdb.spec, pdb.status
    labels = spec.selector.match_labels if spec and spec.selector else None
    min_available = str(spec.min_available) if spec and spec.min_available is not None else None
    return Budget(str(pdb.metadata.name if pdb.metadata else "?"), dict(labels or {}),
                  int(status.current_healthy or 0) if status else 0, int(status.desired_healthy or 0) if status else 0,
                  int(status.disruptions_allowed or 0) if status else 0, min_available)
