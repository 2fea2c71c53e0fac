"""The one interface every platform implements (local, external, kubernetes), and what faults see of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ReplicaView:
    """One replica as fault drivers see it."""

    name: str
    index: int
    pid: int
    labels: Mapping[str, str]
    ready: bool
    uid: str = ""
    """A Kubernetes pod's UID ("" for a local process, whose identity is its PID)."""


@dataclass(frozen=True)
class Readiness:
    ready: int
    total: int


class Platform(Protocol):
    """The target of a run. `start()` brings up whatever the harness runs for it, `close()` stops exactly
    that (on every path); the rest is what the run, its load and its fault drivers ask of it."""

    @property
    def name(self) -> str: ...

    @property
    def prometheus_url(self) -> str: ...
    """The Prometheus (or compatible API) that holds the SLIs' series."""

    @property
    def load_host(self) -> str | None: ...
    """Where the load goes, unless the experiment or profile says otherwise."""

    @property
    def fault_types(self) -> frozenset[str]: ...
    """The fault types this platform can drive."""

    def start(self) -> None: ...

    def close(self) -> None: ...

    def replicas(self) -> Sequence[ReplicaView]: ...
    """The replicas the harness can act on (none on a system it did not start)."""

    def targets(self, selector: Mapping[str, str] | None) -> Sequence[ReplicaView]: ...
    """The replicas a fault's label selector matches (all of them without one)."""

    def readiness(self) -> Readiness | None: ...
    """How many replicas are ready now; None where the platform cannot tell."""

    def fault_proxy_url(self) -> str | None: ...

    def runbook_variables(self) -> dict[str, str]: ...
    """What a runbook may use to act on this platform (`SUPERVISOR_URL`, ...), beside the environment."""


def matches(labels: Mapping[str, str], selector: Mapping[str, str] | None) -> bool:
    return selector is None or all(labels.get(key) == value for key, value in selector.items())


class ReplicaSet:
    """`targets` and `readiness` from `replicas()`: what every platform with replicas shares."""

    def replicas(self) -> Sequence[ReplicaView]:
        return ()

    def targets(self, selector: Mapping[str, str] | None) -> Sequence[ReplicaView]:
        return [replica for replica in self.replicas() if matches(replica.labels, selector)]

    def runbook_variables(self) -> dict[str, str]:
        return {}

    def readiness(self) -> Readiness | None:
        replicas = self.replicas()
        return Readiness(sum(r.ready for r in replicas), len(replicas)) if replicas else None
