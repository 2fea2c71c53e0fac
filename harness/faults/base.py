"""The contract of a fault type: its declaration (`FaultType`), what its driver returns, what it is given.

What the platform offers drivers is `harness.platform.base.Platform`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.faults.recipes import Recipe
from harness.platform.base import Platform, ReplicaView, matches
from harness.prom.client import QueryAnswer
from harness.spec.faults import FaultBase

__all__ = ["Driver", "FaultCheck", "FaultContext", "FaultStop", "FaultType", "Platform", "Prepared", "Recipe",
           "ReplicaView", "matches"]


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


Driver = Callable[[Any, FaultContext], Prepared]
"""Aims a fault (as read from the file) on a platform: its targets, undo recipe, apply and effect check."""

FaultStop = Callable[[Any, Path], str]
"""Undoes a fault whose recipe is "experiment-fault": the fault as read from the file, the file's folder."""


@dataclass(frozen=True)
class FaultType:
    """One fault type, declared in one place: its file model (a `FaultBase` subclass with
    `type: Literal[name]`, the `platforms` it runs on, its validators and `environment_problems()`),
    its driver (one for every platform, or one per platform name), and the `stop` of an
    "experiment-fault" recipe."""

    name: str
    model: type[FaultBase]
    prepare: Driver | Mapping[str, Driver]
    stop: FaultStop | None = None

    def driver_for(self, platform: str) -> Driver | None:
        """The driver on this platform (which fault types a platform offers is the platform's to say)."""
        if isinstance(self.prepare, Mapping):
            return self.prepare.get(platform)
        return self.prepare
