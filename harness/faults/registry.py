"""Preparing a fault: the driver its FaultType declares for the platform it runs on."""

from __future__ import annotations

from harness.errors import FaultError
from harness.faults.base import FaultContext, Prepared
from harness.faults.types import fault_type
from harness.spec.faults import FaultBase


def prepare(fault: FaultBase, ctx: FaultContext) -> Prepared:
    platform = ctx.platform.name
    if fault.type not in ctx.platform.fault_types:
        raise FaultError(f"fault {fault.name}: platform {platform} cannot drive {fault.type!r} faults "
                         f"(it offers: {', '.join(sorted(ctx.platform.fault_types))})")
    declared = fault_type(fault.type)
    if declared is None:
        raise FaultError(f"fault {fault.name}: no driver for fault type {fault.type!r} (is its plugin installed?)")
    driver = declared.driver_for(platform)
    if driver is None:
        raise FaultError(f"fault {fault.name}: fault type {fault.type!r} has no driver for platform {platform}")
    return driver(fault, ctx)
