"""http: an HTTP call starts the fault and another stops it (a feature flag, an admin API, a chaos service)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.faults import recipes
from harness.faults.base import FaultContext, FaultType, Prepared
from harness.faults.calls import http_call, ran_unverified, shown_url
from harness.spec.faults import HttpFault


def prepare_http(fault: HttpFault, ctx: FaultContext) -> Prepared:
    def apply() -> Mapping[str, Any]:
        return {"result": http_call(fault.start, f"{fault.name} start")}

    recipe = recipes.experiment_fault(ctx.experiment_path, ctx.fault_index, fault.name)
    return Prepared((shown_url(fault.start.url),), recipe, apply, ran_unverified)


def stop_http(fault: HttpFault, _cwd: Path) -> str:
    return http_call(fault.stop, f"{fault.name} stop")


HTTP = FaultType("http", HttpFault, prepare_http, stop=stop_http)
