"""process-pause: SIGSTOP replicas for the fault's duration (they keep their sockets, answer nothing), SIGCONT after."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Mapping
from typing import Any

from harness.faults import recipes
from harness.faults.base import FaultCheck, FaultContext, FaultType, Prepared
from harness.procs import process_state
from harness.spec.faults import ProcessPause


def prepare_pause(fault: ProcessPause, ctx: FaultContext) -> Prepared:
    aimed = list(ctx.platform.targets(fault.selector))
    if fault.count is not None:
        aimed = random.Random(f"{ctx.seed}:{fault.name}").sample(aimed, min(fault.count, len(aimed)))
    pids = [r.pid for r in aimed]

    def apply() -> Mapping[str, Any]:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(0.05)
        return {"paused": pids, "stopped_state": [process_state(pid) == "T" for pid in pids]}

    def verify(details: Mapping[str, Any]) -> FaultCheck:
        states = details.get("stopped_state", [])
        return FaultCheck(bool(states) and all(states), f"{sum(states)} of {len(pids)} process(es) were stopped")

    return Prepared(tuple(r.name for r in aimed), recipes.resume(pids), apply, verify)


PROCESS_PAUSE = FaultType("process-pause", ProcessPause, prepare_pause)
