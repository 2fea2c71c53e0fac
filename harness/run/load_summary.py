"""What the load generator achieved, per phase and over the run, from its own record."""

from __future__ import annotations

import logging
from typing import Any

from harness.evidence.collect import (
    Window,
)
from harness.load.driver import LoadRun
from harness.run.record import RunRecord

log = logging.getLogger(__name__)


def load_window(load: LoadRun, window: Window) -> dict[str, Any] | None:
    try:
        counted = load.window(window.start, window.end)
    except (OSError, ValueError) as err:
        log.warning("client-side counts unavailable: %s", err)
        return None
    return {"requests": counted.requests, "failures": counted.failures, "achieved_rps": counted.achieved_rps,
            "requested_rps": counted.requested_rps, "mean_response_s": counted.mean_response_s,
            "mean_users": counted.mean_users, "throughput_per_user": load.config.pace_per_user}


def load_summary(load: LoadRun, state: RunRecord) -> dict[str, Any]:
    phases = {}
    for name, real in state.phases.items():
        if "start" in real and "end" in real:
            phases[name] = load_window(load, Window(name, real["start"], real["end"]))
    starts = [p["start"] for p in state.phases.values() if "start" in p]
    ends = [p["end"] for p in state.phases.values() if "end" in p]
    overall = load_window(load, Window("run", min(starts), max(ends))) if starts and ends else None
    summary: dict[str, Any] = dict(overall or {"requests": 0, "failures": 0, "achieved_rps": 0.0})
    summary["phases"] = phases
    summary["log"] = str(load.log_path)
    return summary
