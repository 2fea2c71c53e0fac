"""The contract every fault driver follows; what the platform offers them is `harness.platform.base.Platform`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.platform.base import Platform, ReplicaView, matches
from harness.prom.client import QueryAnswer

__all__ = ["FaultCheck", "FaultContext", "Platform", "Prepared", "Recipe", "ReplicaView", "matches"]

Recipe = Mapping[str, Any]
"""A JSON-serialisable description of how to undo a fault, replayable by `harness rollback`."""


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


