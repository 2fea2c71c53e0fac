"""Which windows are judged (each phase's real span minus its guard bands) and which targets
each fault was expected to take down."""

from __future__ import annotations

from harness.evidence.collect import (
    Window,
)
from harness.evidence.health import ExpectDown
from harness.evidence.outages import ExpectedDown
from harness.plan import Plan
from harness.run.record import RunRecord
from harness.spec.models import PHASE_ORDER


def phase_windows(plan: Plan, state: RunRecord, now: float) -> list[Window]:
    """Each phase's real window minus its guard bands; a phase cut short by a halt ends at the halt."""
    windows = []
    for name in PHASE_ORDER:
        real = state.phases.get(name)
        if not real or "start" not in real:
            continue
        end = real.get("end", state.ended or now)
        start, stop = real["start"] + plan.guard_s, end - plan.guard_s
        nominal = plan.phase(name).length - 2 * plan.guard_s
        cut_short = "end" not in real or state.halted is not None
        if stop > start:
            windows.append(Window(name, start, stop, None if cut_short else nominal))
    return windows


LOCAL_RESTART_ALLOWANCE_S = 5.0  # a killed local replica is back within its restart delay and start-up


def expected_down(state: RunRecord, restart_delay_s: float = 1.0) -> list[ExpectDown]:
    """The targets each fault takes down, over the fault's real span: those its `expect_down` names,
    and on the local platform the replicas a pod-kill or process-pause acted on (the harness knows them)."""
    found = []
    for record in state.faults:
        fault = record.fault
        if fault is None or record.started is None:
            continue
        end = record.ended or record.started
        if state.platform == "local" and record.type in ("pod-kill", "process-pause"):
            if record.type == "pod-kill":
                end = record.started + restart_delay_s + LOCAL_RESTART_ALLOWANCE_S
            span = ExpectedDown(record.name, record.started, end)
            found += [ExpectDown({"job": "shop", "replica": name.removeprefix("shop-")}, span)
                      for name in record.targets if name.startswith("shop-")]
        span = ExpectedDown(record.name, record.started, end)
        found += [ExpectDown(matchers, span) for matchers in fault.expect_down]
    return found
