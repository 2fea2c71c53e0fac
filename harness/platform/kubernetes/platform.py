"""A Kubernetes cluster as a run's target: its pods are the replicas, the user's Prometheus holds the SLIs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.errors import SpecError
from harness.platform.base import Readiness, ReplicaSet, ReplicaView
from harness.platform.kubernetes.cluster import Cluster
from harness.platform.kubernetes.connection import Connection, connect
from harness.platform.kubernetes.policy import Limits, check_context
from harness.spec.faults import faults_on
from harness.spec.models import KubernetesTarget


class KubernetesPlatform(ReplicaSet):
    name = "kubernetes"

    def __init__(self, target: KubernetesTarget, prometheus_url: str, load_host: str | None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.target = target
        self.prometheus_url = prometheus_url
        self.load_host = load_host
        self._environ = environ
        self._cluster: Cluster | None = None

    @property
    def fault_types(self) -> frozenset[str]:
        return faults_on("kubernetes")

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            raise RuntimeError("the kubernetes platform is not started")
        return self._cluster

    @property
    def connection(self) -> Connection:
        return self.cluster.connection

    @property
    def limits(self) -> Limits:
        return Limits(self.target.max_pods, self.target.max_percent)

    def start(self) -> None:
        """Connect, refuse a context the file does not allow, and check the namespace and workload exist.
        Nothing in the cluster is changed."""
        connection = connect(self.target.context, self.target.namespace, self._environ)
        check_context(connection.context, self.target.permitted_contexts)
        cluster = Cluster(connection)
        cluster.check_namespace()
        if self.target.workload is not None:
            cluster.workload(self.target.workload)
        self._cluster = cluster

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.connection.api.close()  # type: ignore[no-untyped-call]

    def selector_for(self, selector: Mapping[str, str] | None) -> dict[str, str]:
        """A fault's own selector, else its target workload's: never the whole namespace."""
        if selector:
            return dict(selector)
        if self.target.workload is None:
            raise SpecError(["a fault without a selector needs target.kubernetes.workload"])
        labels, _ = self.cluster.workload(self.target.workload)
        if not labels:
            raise SpecError([f"{self.target.workload} has no matchLabels selector to aim faults with: give the "
                             "fault a selector"])
        return labels

    def replicas(self) -> Sequence[ReplicaView]:
        if self.target.workload is None:
            return ()
        pods = self.cluster.pods(self.selector_for(None))
        return tuple(ReplicaView(p.name, i, 0, p.labels, p.ready, p.uid) for i, p in enumerate(pods))

    def readiness(self) -> Readiness | None:
        """The workload's status as its controller reports it (readyReplicas of spec.replicas)."""
        if self.target.workload is None:
            return None
        _, status = self.cluster.workload(self.target.workload)
        return Readiness(status.ready, status.desired)

    def fault_proxy_url(self) -> str | None:
        return None


