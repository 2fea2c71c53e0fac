"""A system the harness did not start: it only loads it, faults it through commands, and reads its Prometheus."""

from __future__ import annotations

from dataclasses import dataclass

from harness.platform.base import ReplicaSet
from harness.spec.faults import faults_on


@dataclass
class ExternalPlatform(ReplicaSet):
    prometheus_url: str
    load_host: str | None = None
    name: str = "external"

    @property
    def fault_types(self) -> frozenset[str]:
        return faults_on("external")

    def start(self) -> None:
        return None  # already running: nothing of it is ours to start

    def close(self) -> None:
        return None

    def fault_proxy_url(self) -> str | None:
        return None
