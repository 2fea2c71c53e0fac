"""Fault types by name: the built-ins and any registered later, each declared in one place.

A fault type is one module that declares a `FaultType`: its file model (a `FaultBase` subclass with
`type: Literal["name"]` and the `platforms` it runs on, whose pydantic validators are its validation
and whose `environment_problems()` are its checks of this machine), its driver
(`prepare(fault, ctx) -> Prepared`, whose `undo` recipe `harness rollback` replays) and, for a
recipe of kind "experiment-fault" (undone by re-reading the experiment file, so secrets are never
written down), its `stop`. Third-party types register through the entry point group
`harness.fault_types`, whose entries are FaultType objects:

    [project.entry-points."harness.fault_types"]
    file-flag = "my_package.file_flag:FILE_FLAG"
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from harness.errors import SpecError
from harness.faults.base import FaultContext, Prepared
from harness.spec.faults import FAULT_TYPES, PLATFORMS, FaultBase
from harness.spec.models import set_fault_models

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "harness.fault_types"
BUILT_IN = dict(FAULT_TYPES)

Driver = Callable[[Any, FaultContext], Prepared]


@dataclass(frozen=True)
class FaultType:
    name: str
    model: type[FaultBase]
    prepare: Driver
    stop: Callable[[Any, Path], str] | None = None
    """Undo of a fault whose recipe is an "experiment-fault" (the fault as read from the file, its folder)."""


REGISTERED: dict[str, FaultType] = {}
_plugins_loaded = False


def register(fault_type: FaultType) -> None:
    """Add a fault type: experiments accept it, validation checks it, runs drive and undo it."""
    name = fault_type.name
    if name in BUILT_IN or (name in REGISTERED and REGISTERED[name] != fault_type):
        raise ValueError(f"fault type {name!r} is already defined")
    unknown = fault_type.model.platforms - set(PLATFORMS)
    if not fault_type.model.platforms:
        raise ValueError(f"fault type {name!r}: its model names no platforms (platforms: ClassVar[frozenset[str]])")
    if unknown:
        raise ValueError(f"fault type {name!r}: unknown platform(s) {', '.join(sorted(unknown))}")
    REGISTERED[name] = fault_type
    _apply()


def unregister(name: str) -> None:
    if REGISTERED.pop(name, None) is not None:
        _apply()


def registered(name: str) -> FaultType | None:
    return REGISTERED.get(name)


def load_plugins() -> None:
    """Register the fault types of installed packages (entry point group `harness.fault_types`), once."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            fault_type = entry.load()
        except Exception as err:
            raise SpecError([f"fault type plugin {entry.name!r} ({entry.value}) cannot be loaded: "
                             f"{type(err).__name__}: {err}"]) from err
        if not isinstance(fault_type, FaultType):
            raise SpecError([f"fault type plugin {entry.name!r} ({entry.value}) is not a FaultType"])
        register(fault_type)
        log.info("fault type %s registered from %s", fault_type.name, entry.value)


def _apply() -> None:
    set_fault_models({**BUILT_IN, **{name: t.model for name, t in REGISTERED.items()}})
