"""cpu-stress: stress-ng on this machine for the fault's duration (it also stops by itself, --timeout)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from harness.errors import FaultError
from harness.faults import recipes
from harness.faults.base import FaultCheck, FaultContext, FaultType, Prepared
from harness.faults.builtin.chaos_mesh import prepare_chaos_mesh
from harness.procs import spawn
from harness.spec.faults import CpuStress


def prepare_cpu_stress(fault: CpuStress, ctx: FaultContext) -> Prepared:
    argv = ["stress-ng", "--cpu", str(fault.workers), "--cpu-load", str(int(fault.load)),
            "--timeout", f"{int(fault.duration) + 1}s", "--quiet"]
    def apply() -> Mapping[str, Any]:
        try:
            proc = spawn(argv, log_path=ctx.run_dir / "faults" / f"{fault.name}.log")
        except FileNotFoundError as err:
            raise FaultError("cpu-stress needs stress-ng (apt-get install stress-ng)") from err
        time.sleep(0.2)
        # reap it when it ends, so no zombie is left behind
        threading.Thread(target=proc.wait, name=f"reap-{fault.name}", daemon=True).start()
        # known only now: journalled right after, and stress-ng also stops by itself (--timeout)
        return {"pid": proc.pid, "running": proc.poll() is None, "undo": recipes.kill_group([proc.pid])}

    def verify(details: Mapping[str, Any]) -> FaultCheck:
        return FaultCheck(bool(details.get("running")), f"stress-ng with {fault.workers} worker(s) at "
                          f"{fault.load}% {'ran' if details.get('running') else 'did not start'}")

    return Prepared(("this machine",), None, apply, verify)


# on kubernetes a Chaos Mesh StressChaos (chaos_mesh.py)
CPU_STRESS = FaultType("cpu-stress", CpuStress, {"local": prepare_cpu_stress, "kubernetes": prepare_chaos_mesh})
