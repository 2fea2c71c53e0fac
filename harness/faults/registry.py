"""Fault drivers by `type`: the built-ins here, registered types from `harness.faults.types`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.errors import FaultError
from harness.faults import command_faults, local, types
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
    "http": command_faults.prepare_http,
    "process": command_faults.prepare_process,
    "chaostoolkit": command_faults.prepare_chaostoolkit,
}


def prepare(fault: FaultBase, ctx: FaultContext) -> Prepared:
    if fault.type not in ctx.platform.fault_types:
        raise FaultError(f"fault {fault.name}: platform {ctx.platform.name} cannot drive {fault.type!r} faults "
                         f"(it offers: {', '.join(sorted(ctx.platform.fault_types))})")
    driver = DRIVERS.get(str(fault.type))
    if driver is None:
        registered_type = types.registered(str(fault.type))
        if registered_type is None:
            raise FaultError(f"fault {fault.name}: no driver for fault type {fault.type!r} (is its plugin installed?)")
        driver = registered_type.prepare
    return driver(fault, ctx)
