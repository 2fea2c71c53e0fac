"""Faults that call out: an HTTP start/stop pair, a process start/stop pair, a Chaos Toolkit activity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults import undo
from harness.faults.base import FaultCheck, FaultContext, Prepared
from harness.spec.faults import ChaosToolkit, HttpFault, ProcessFault

NOT_VERIFIED = " (no verify: block, so its effect itself was not checked)"


def _ran(details: Mapping[str, Any]) -> FaultCheck:
    # Honest about what is known: the command succeeded; whether the system changed needs `verify:`.
    return FaultCheck(True, f"{details.get('result', '')}{NOT_VERIFIED}")


def prepare_http(fault: HttpFault, ctx: FaultContext) -> Prepared:
    def apply() -> Mapping[str, Any]:
        return {"result": undo.http_call(fault.start, f"{fault.name} start")}

    recipe = undo.experiment_fault(ctx.experiment_path, ctx.fault_index, fault.name)
    return Prepared((undo.shown_url(fault.start.url),), recipe, apply, _ran)


def prepare_process(fault: ProcessFault, ctx: FaultContext) -> Prepared:
    def apply() -> Mapping[str, Any]:
        return {"result": undo.run_argv(fault.start, fault.timeout, f"{fault.name} start",
                                        ctx.experiment_path.parent)}

    return Prepared((fault.start[0],), undo.experiment_fault(ctx.experiment_path, ctx.fault_index, fault.name),
                    apply, _ran)


def prepare_chaostoolkit(fault: ChaosToolkit, ctx: FaultContext) -> Prepared:
    recipe = undo.experiment_fault(ctx.experiment_path, ctx.fault_index, fault.name) if fault.rollback else None

    def apply() -> Mapping[str, Any]:
        return {"result": undo.run_activity(fault.action, f"{fault.name} action")}

    return Prepared((str(fault.action.get("name", "activity")),), recipe, apply, _ran)
