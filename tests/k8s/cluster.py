"""The simulated cluster's state: namespaces, workloads and their pods, PDBs, Chaos Mesh objects.

A workload's pods are its `Replicas`: pod i is replica i. Deleting a pod kills its replica; the
controller (`reconcile`, run on a thread by the server) creates its replacement with a new UID after
`recreate_delay_s`, and the new pod is Ready only once its replica runs again as a new instance.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.k8s.chaos import ChaosDaemon
from tests.k8s.replicas import Replicas
from tests.k8s.selectors import selector


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """An answer other than success: the HTTP status, Kubernetes' reason and the message."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


@dataclass
class Pod:
    name: str
    namespace: str
    uid: str
    labels: dict[str, str]
    index: int
    workload: Workload
    created: float
    stale_instance: str
    """The instance that served this slot before this pod was created: never counted as this pod's."""

    def ready(self) -> bool:
        replicas = self.workload.replicas
        now = replicas.instance(self.index)
        return bool(now) and now != self.stale_instance and replicas.ready(self.index)


@dataclass
class Workload:
    kind: str  # Deployment | StatefulSet
    name: str
    namespace: str
    labels: dict[str, str]
    replicas: Replicas
    manifest: dict[str, Any]
    template_hash: str = field(default_factory=lambda: secrets.token_hex(5)[:10])
    vacant: dict[int, tuple[float, str]] = field(default_factory=dict)
    """Slots whose pod was deleted: since when, and the instance that served it."""

    def pod_name(self, index: int) -> str:
        if self.kind == "StatefulSet":
            return f"{self.name}-{index}"
        return f"{self.name}-{self.template_hash}-{secrets.token_hex(3)[:5]}"


class Cluster:
    def __init__(self, recreate_delay_s: float = 0.3, clock: Callable[[], float] = time.time) -> None:
        self.recreate_delay_s = recreate_delay_s
        self.clock = clock
        self.lock = threading.RLock()
        self.namespaces: dict[str, float] = {"default": clock()}
        self.workloads: list[Workload] = []
        self.pods: dict[tuple[str, str], Pod] = {}
        self.pdbs: dict[tuple[str, str], dict[str, Any]] = {}
        self.other: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, ns, name): Services, Roles...
        self.chaos = ChaosDaemon(self)
        self.deleted_pods: list[str] = []

    # -- set-up --------------------------------------------------------------------------------------

    def add_namespace(self, name: str) -> None:
        with self.lock:
            self.namespaces.setdefault(name, self.clock())

    def add_workload(self, kind: str, name: str, namespace: str, labels: dict[str, str], replicas: Replicas,
                     manifest: dict[str, Any] | None = None) -> Workload:
        with self.lock:
            self.add_namespace(namespace)
            workload = Workload(kind, name, namespace, dict(labels), replicas, manifest or {})
            self.workloads.append(workload)
            for index in range(replicas.count()):
                self._create_pod(workload, index, stale_instance="")
            return workload

    def add_pdb(self, name: str, namespace: str, match_labels: dict[str, str], min_available: int | str | None = None,
                max_unavailable: int | str | None = None) -> None:
        spec: dict[str, Any] = {"selector": {"matchLabels": dict(match_labels)}}
        if min_available is not None:
            spec["minAvailable"] = min_available
        if max_unavailable is not None:
            spec["maxUnavailable"] = max_unavailable
        with self.lock:
            self.add_namespace(namespace)
            self.pdbs[(namespace, name)] = {"metadata": {"name": name, "namespace": namespace}, "spec": spec}

    def apply_manifest(self, doc: dict[str, Any], replicas: Callable[[int], Replicas]) -> None:
        """A manifest as `kubectl apply` would create it: workloads get `replicas(spec.replicas)` as pods."""
        kind, meta, spec = doc["kind"], doc.get("metadata", {}), doc.get("spec", {})
        namespace = meta.get("namespace", "default")
        if kind == "Namespace":
            self.add_namespace(meta["name"])
        elif kind in ("Deployment", "StatefulSet"):
            labels = dict(spec["selector"]["matchLabels"])
            self.add_workload(kind, meta["name"], namespace, labels, replicas(int(spec.get("replicas", 1))), doc)
        elif kind == "PodDisruptionBudget":
            self.add_pdb(meta["name"], namespace, spec["selector"]["matchLabels"], spec.get("minAvailable"),
                         spec.get("maxUnavailable"))
        else:
            with self.lock:
                self.other[(kind, namespace, meta["name"])] = doc

    def _create_pod(self, workload: Workload, index: int, stale_instance: str) -> Pod:
        labels = {**workload.labels, "pod-template-hash": workload.template_hash} if workload.kind == "Deployment" \
            else {**workload.labels, "statefulset.kubernetes.io/pod-name": f"{workload.name}-{index}"}
        pod = Pod(workload.pod_name(index), workload.namespace, str(uuid.uuid4()), labels, index, workload,
                  self.clock(), stale_instance)
        self.pods[(pod.namespace, pod.name)] = pod
        return pod

    # -- what the API serves -------------------------------------------------------------------------

    def pods_in(self, namespace: str, labels: str | None = None, fields: str | None = None) -> list[Pod]:
        wanted_labels, wanted_fields = selector(labels), selector(fields)
        with self.lock:
            found = [p for p in self.pods.values() if p.namespace == namespace]
        return sorted((p for p in found if wanted_labels(p.labels) and wanted_fields(self.pod_fields(p))),
                      key=lambda p: p.name)

    @staticmethod
    def pod_fields(pod: Pod) -> dict[str, str]:
        return {"metadata.name": pod.name, "metadata.namespace": pod.namespace,
                "status.phase": "Running" if pod.ready() else "Pending", "spec.nodeName": "sim-node-1"}

    def pod(self, namespace: str, name: str) -> Pod:
        with self.lock:
            found = self.pods.get((namespace, name))
        if found is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found')
        return found

    def delete_pod(self, namespace: str, name: str) -> Pod:
        with self.lock:
            pod = self.pod(namespace, name)
            del self.pods[(namespace, name)]
            instance = pod.workload.replicas.instance(pod.index)
            pod.workload.vacant[pod.index] = (self.clock(), instance or pod.stale_instance)
            self.deleted_pods.append(name)
        pod.workload.replicas.kill(pod.index)
        return pod

    def evict_pod(self, namespace: str, name: str) -> Pod:
        with self.lock:
            pod = self.pod(namespace, name)
            for pdb in self.pdbs_for(pod):
                status = self.pdb_status(pdb)
                if status["disruptionsAllowed"] < 1:
                    raise ApiError(429, "TooManyRequests",
                                   "Cannot evict pod as it would violate the pod's disruption budget.")
            return self.delete_pod(namespace, name)

    def pdbs_for(self, pod: Pod) -> Iterator[dict[str, Any]]:
        for (namespace, _), pdb in list(self.pdbs.items()):
            labels = pdb["spec"].get("selector", {}).get("matchLabels", {})
            if namespace == pod.namespace and all(pod.labels.get(k) == v for k, v in labels.items()):
                yield pdb

    def pdb_status(self, pdb: dict[str, Any]) -> dict[str, Any]:
        spec, meta = pdb["spec"], pdb["metadata"]
        labels = spec.get("selector", {}).get("matchLabels", {})
        pods = [p for p in self.pods.values() if p.namespace == meta["namespace"]
                and all(p.labels.get(k) == v for k, v in labels.items())]
        expected = sum(len(w.vacant) + sum(1 for p in pods if p.workload is w) for w in
                       {id(p.workload): p.workload for p in pods}.values()) or len(pods)
        healthy = sum(p.ready() for p in pods)
        if "minAvailable" in spec:
            desired = _resolve(spec["minAvailable"], expected)
        else:
            desired = expected - _resolve(spec.get("maxUnavailable", 0), expected)
        return {"currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
                "disruptionsAllowed": max(0, healthy - desired), "observedGeneration": 1}

    def workload(self, kind: str, namespace: str, name: str) -> Workload:
        found = next((w for w in self.workloads if (w.kind, w.namespace, w.name) == (kind, namespace, name)), None)
        if found is None:
            raise ApiError(404, "NotFound", f'{kind.lower()}s.apps "{name}" not found')
        return found

    def workload_status(self, workload: Workload) -> dict[str, Any]:
        with self.lock:
            pods = [p for p in self.pods.values() if p.workload is workload]
        ready = sum(p.ready() for p in pods)
        return {"replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready,
                "updatedReplicas": len(pods), "currentReplicas": len(pods), "observedGeneration": 1}

    # -- the controllers -----------------------------------------------------------------------------

    def reconcile(self) -> None:
        """Recreate deleted pods after the delay (new name for a Deployment's, new UID always); run chaos."""
        now = self.clock()
        with self.lock:
            for workload in self.workloads:
                for index, (since, instance) in list(workload.vacant.items()):
                    if now - since >= self.recreate_delay_s:
                        del workload.vacant[index]
                        self._create_pod(workload, index, stale_instance=instance)
        self.chaos.reconcile(now)


def _resolve(value: int | str, total: int) -> int:
    """An int, or a percentage of `total` rounded up (as the disruption controller does)."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(total * float(value[:-1]) / 100)
    return int(value)
