"""The catalogue of fault types: the built-ins (`harness.faults.builtin`) and any registered later.

A fault type is one module that declares a `FaultType` (see `harness.faults.base`): its file model
(a `FaultBase` subclass with `type: Literal["name"]` and the `platforms` it runs on, whose pydantic
validators are its validation and whose `environment_problems()` are its checks of this machine),
its driver (`prepare(fault, ctx) -> Prepared`, whose `undo` recipe `harness rollback` replays; one
for every platform, or one per platform name) and, for a recipe of kind "experiment-fault" (undone
by re-reading the experiment file, so secrets are never written down), its `stop`. Third-party
types register through the entry point group `harness.fault_types`, whose entries are FaultType
objects:

    [project.entry-points."harness.fault_types"]
    file-flag = "my_package.file_flag:FILE_FLAG"
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from harness.errors import SpecError
from harness.faults.base import FaultType
from harness.faults.builtin import BUILT_IN as BUILT_IN_TYPES
from harness.spec.faults import PLATFORMS
from harness.spec.models import set_fault_models

__all__ = ["BUILT_IN", "ENTRY_POINT_GROUP", "FaultType", "fault_type", "load_plugins", "register", "registered",
           "unregister"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "harness.fault_types"
BUILT_IN: dict[str, FaultType] = {t.name: t for t in BUILT_IN_TYPES}

REGISTERED: dict[str, FaultType] = {}
_plugins_loaded = False


def register(declared: FaultType) -> None:
    """Add a fault type: experiments accept it, validation checks it, runs drive and undo it."""
    name = declared.name
    if name in BUILT_IN or (name in REGISTERED and REGISTERED[name] != declared):
        raise ValueError(f"fault type {name!r} is already defined")
    unknown = declared.model.platforms - set(PLATFORMS)
    if not declared.model.platforms:
        raise ValueError(f"fault type {name!r}: its model names no platforms (platforms: ClassVar[frozenset[str]])")
    if unknown:
        raise ValueError(f"fault type {name!r}: unknown platform(s) {', '.join(sorted(unknown))}")
    REGISTERED[name] = declared
    _apply()


def unregister(name: str) -> None:
    if REGISTERED.pop(name, None) is not None:
        _apply()


def registered(name: str) -> FaultType | None:
    """A fault type registered by a plugin (None for the built-ins and unknown names)."""
    return REGISTERED.get(name)


def fault_type(name: str) -> FaultType | None:
    """The declaration of a fault type, built-in or registered."""
    return BUILT_IN.get(name) or REGISTERED.get(name)


def load_plugins() -> None:
    """Register the fault types of installed packages (entry point group `harness.declareds`), once."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            declared = entry.load()
        except Exception as err:
            raise SpecError([f"fault type plugin {entry.name!r} ({entry.value}) cannot be loaded: "
                             f"{type(err).__name__}: {err}"]) from err
        if not isinstance(declared, FaultType):
            raise SpecError([f"fault type plugin {entry.name!r} ({entry.value}) is not a FaultType"])
        register(declared)
        log.info("fault type %s registered from %s", declared.name, entry.value)


def _apply() -> None:
    set_fault_models({name: t.model for name, t in {**BUILT_IN, **REGISTERED}.items()})
