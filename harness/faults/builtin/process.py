"""process: a program starts the fault and another stops it (argv lists, run in the experiment's folder, no shell)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.faults import recipes
from harness.faults.base import FaultContext, FaultType, Prepared
from harness.faults.calls import ran_unverified, run_argv
from harness.faults.masking import secret_values, shown_argv
from harness.spec.faults import ProcessFault


def prepare_process(fault: ProcessFault, ctx: FaultContext) -> Prepared:
    def apply() -> Mapping[str, Any]:
        return {"result": run_argv(fault.start, fault.timeout, f"{fault.name} start",
                                        ctx.experiment_path.parent)}

    return Prepared((shown_argv(fault.start, secret_values(ctx)),),
                    recipes.experiment_fault(ctx.experiment_path, ctx.fault_index, fault.name), apply, ran_unverified)


def stop_process(fault: ProcessFault, cwd: Path) -> str:
    return run_argv(fault.stop, fault.timeout, f"{fault.name} stop", cwd)


PROCESS = FaultType("process", ProcessFault, prepare_process, stop=stop_process)
