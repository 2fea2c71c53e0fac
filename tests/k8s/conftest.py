"""A running simulator with a Deployment `shop` of three in-memory replicas and a kubeconfig for it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes.config import kube_config

from tests.k8s.replicas import FakeReplicas
from tests.k8s.server import ApiSimulator

CONTEXT, NAMESPACE = "kind-gate", "shop"


@dataclass(frozen=True)
class SimCluster:
    sim: ApiSimulator
    replicas: FakeReplicas
    kubeconfig: Path


@pytest.fixture
def sim_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimCluster]:
    with ApiSimulator() as sim:
        replicas = FakeReplicas(3, start_delay_s=0.3)
        sim.cluster.add_workload("Deployment", "shop", NAMESPACE, {"app": "shop"}, replicas)
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", CONTEXT, NAMESPACE, extra_contexts=("prod",))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        # the client reads KUBECONFIG once, at import: point its default there too
        monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
        for name in ("KUBERNETES_HOST", "KUBERNETES_CONTEXT", "CHAOSTOOLKIT_IN_POD"):
            monkeypatch.delenv(name, raising=False)
        yield SimCluster(sim, replicas, kubeconfig)
