"""The contract every fault driver follows, and what the platform offers them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.prom.client import QueryAnswer

Recipe = Mapping[str, Any]
"""A JSON-serialisable description of how to undo a fault, replayable by `harness rollback`."""


@dataclass(frozen=True)
class ReplicaView:
    """One replica as fault drivers see it (platform local)."""

    name: str
    index: int
    pid: int
    labels: Mapping[str, str]
    ready: bool


class Platform(Protocol):
    """What faults may act on: replicas and the fault proxy (local), nothing more (external)."""

    name: str

    def replicas(self) -> Sequence[ReplicaView]: ...

    def fault_proxy_url(self) -> str | None: ...


@dataclass(frozen=True)
class Prepared:
    """A fault ready to go: what it aims at, how to undo it, and the call that applies it."""

    targets: tuple[str, ...]
    undo: Recipe | None
    apply: Callable[[], Mapping[str, Any]]
    verify: Callable[[Mapping[str, Any]], FaultCheck] | None = None


@dataclass(frozen=True)
class FaultCheck:
    """Whether a fault took effect, and what was observed."""

    took_effect: bool | None  # None: could not be checked
    observed: str


@dataclass(frozen=True)
class FaultContext:
    """Everything a driver may need beyond the fault itself."""

    platform: Platform
    run_dir: Path
    experiment_path: Path
    fault_index: int
    seed: str
    environ: Mapping[str, str] = field(default_factory=dict)
    query: Callable[[str, float], QueryAnswer] | None = None
    """Instant PromQL queries for a fault's `verify:` condition (None: no Prometheus to ask)."""


def matches(labels: Mapping[str, str], selector: Mapping[str, str] | None) -> bool:
    return selector is None or all(labels.get(key) == value for key, value in selector.items())
