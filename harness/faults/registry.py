"""Built-in fault drivers by `type`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.faults import commands, local
from harness.faults.base import FaultContext, Prepared
from harness.spec.faults import FaultBase

Driver = Callable[[Any, FaultContext], Prepared]

DRIVERS: dict[str, Driver] = {
    "pod-kill": local.prepare_pod_kill,
    "latency": local.prepare_proxy_fault,
    "http-error": local.prepare_proxy_fault,
    "blackhole": local.prepare_proxy_fault,
    "process-pause": local.prepare_pause,
    "cpu-stress": local.prepare_cpu_stress,
    "http": commands.prepare_http,
    "process": commands.prepare_process,
    "chaostoolkit": commands.prepare_chaostoolkit,
}


def prepare(fault: FaultBase, ctx: FaultContext) -> Prepared:
    return DRIVERS[str(fault.type)](fault, ctx)
