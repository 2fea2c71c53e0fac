"""chaostoolkit: any Chaos Toolkit action as a fault, with its rollback as the undo (then it persists)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.faults import recipes
from harness.faults.base import FaultContext, FaultType, Prepared
from harness.faults.calls import ran_unverified, run_activity
from harness.spec.faults import ChaosToolkit


def prepare_chaostoolkit(fault: ChaosToolkit, ctx: FaultContext) -> Prepared:
    recipe = recipes.experiment_fault(ctx.experiment_path, ctx.fault_index, fault.name) if fault.rollback else None

    def apply() -> Mapping[str, Any]:
        return {"result": run_activity(fault.action, f"{fault.name} action")}

    provider = fault.action.get("provider")
    # module.func only: arguments are the file's, and may hold what a reader should not see
    target = (f"{provider.get('module', '?')}.{provider.get('func', '?')}" if isinstance(provider, Mapping)
              and provider.get("type") == "python" else str(fault.action.get("name", "activity")))
    return Prepared((target,), recipe, apply, ran_unverified)


def stop_chaostoolkit(fault: ChaosToolkit, _cwd: Path) -> str:
    if fault.rollback is None:
        return "nothing to undo"
    return run_activity(fault.rollback, f"{fault.name} rollback")


CHAOSTOOLKIT = FaultType("chaostoolkit", ChaosToolkit, prepare_chaostoolkit, stop=stop_chaostoolkit)
