"""pod-kill: SIGKILL a share of the target's replicas; the platform restarts them (its own supervisor).
On kubernetes: `pod_kill_kubernetes`."""

from __future__ import annotations

import contextlib
import os
import random
import signal
from collections.abc import Mapping
from typing import Any

from harness.faults.base import FaultCheck, FaultContext, FaultType, Prepared
from harness.faults.builtin.pod_kill_kubernetes import prepare_pod_kill_kubernetes
from harness.procs import pid_alive
from harness.spec.faults import PodKill


def prepare_pod_kill(fault: PodKill, ctx: FaultContext) -> Prepared:
    candidates = list(ctx.platform.targets(fault.selector))
    count = fault.victims(len(candidates)) if candidates else 0
    victims = random.Random(f"{ctx.seed}:{fault.name}").sample(candidates, count)

    def apply() -> Mapping[str, Any]:
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim.pid, signal.SIGKILL)
        return {"killed": [{"replica": v.name, "index": v.index, "pid": v.pid} for v in victims]}

    def verify(details: Mapping[str, Any]) -> FaultCheck:
        now = {r.index: r for r in ctx.platform.replicas()}
        restarted = [k for k in details.get("killed", []) if k["index"] in now and now[k["index"]].pid != k["pid"]
                     and now[k["index"]].ready]
        dead = [k for k in details.get("killed", []) if pid_alive(int(k["pid"]))]
        killed = len(details.get("killed", []))
        took = killed > 0 and not dead
        observed = (f"{killed} replica(s) killed, {len(restarted)} restarted with a new PID"
                    + (f"; still alive: {[k['pid'] for k in dead]}" if dead else ""))
        return FaultCheck(took, observed)

    return Prepared(tuple(v.name for v in victims), None, apply, verify)


POD_KILL = FaultType("pod-kill", PodKill, {"local": prepare_pod_kill, "kubernetes": prepare_pod_kill_kubernetes})
