"""The run's clock: phases and faults happen at their offsets; progress, abort checks and the kill switch
are served in between. Real timestamps of everything are recorded."""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import Halt
from harness.plan import FaultSlot, Plan
from harness.run.interrupts import Interrupts

log = logging.getLogger(__name__)


@dataclass(order=True)
class _Event:
    at: float
    order: int
    kind: str = field(compare=False)
    phase: str = field(default="", compare=False)
    slot: FaultSlot | None = field(default=None, compare=False)
    call: Callable[[], None] | None = field(default=None, compare=False)


@dataclass
class Ticker:
    """A callback run every `every` seconds of the timeline (progress lines, abort checks)."""

    every: float
    call: Callable[[float], None]
    next_at: float = 0.0


class FaultControl(Protocol):
    """What the timeline asks of the faults (FaultRunner in a run; a recorder in tests)."""

    def inject(self, slot: FaultSlot) -> Any: ...

    def revert(self, name: str) -> None: ...


Checkpoint = tuple[float, Callable[[], None]]
"""A call at an offset of the timeline, before the faults of that moment (e.g. a check under load)."""


def _events(plan: Plan, t0: float, checkpoints: Sequence[Checkpoint] = ()) -> list[_Event]:
    events = [_Event(t0 + offset, 1, "checkpoint", call=call) for offset, call in checkpoints]
    for span in plan.phases:
        if span.length > 0:
            events.append(_Event(t0 + span.start, 1, "phase-start", span.name))
            events.append(_Event(t0 + span.end, 0, "phase-end", span.name))
    for slot in plan.faults:
        events.append(_Event(t0 + slot.start, 2, "inject", slot=slot))
        if slot.fault.persists:
            events.append(_Event(t0 + slot.end, 0, "revert", slot=slot))
    heapq.heapify(events)
    return events


def run_timeline(plan: Plan, t0: float, faults: FaultControl, phases: dict[str, dict[str, float]],
                 tickers: list[Ticker], interrupts: Interrupts,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 checkpoints: Sequence[Checkpoint] = ()) -> None:
    """Execute the plan from t0 (absolute time); raises Halt when interrupted or aborted."""
    events = _events(plan, t0, checkpoints)
    for ticker in tickers:
        ticker.next_at = clock() + ticker.every
    while events:
        interrupts.check()
        now = clock()
        if events[0].at <= now:
            _handle(heapq.heappop(events), faults, phases, clock)
            continue
        due = min([events[0].at, *(t.next_at for t in tickers)])
        if due > now:
            sleep(min(due - now, 0.2))
            continue
        for ticker in tickers:
            if ticker.next_at <= now:
                ticker.next_at = now + ticker.every
                try:
                    ticker.call(now)
                except Halt:
                    raise
                except Exception as err:  # progress must never take a run down
                    log.warning("periodic check failed: %s", err)


def _handle(event: _Event, faults: FaultControl, phases: dict[str, dict[str, float]],
            clock: Callable[[], float]) -> None:
    if event.kind == "phase-start":
        phases[event.phase] = {"start": clock()}
        log.info("phase %s started", event.phase)
    elif event.kind == "phase-end":
        phases.setdefault(event.phase, {})["end"] = clock()
    elif event.kind == "checkpoint" and event.call is not None:
        event.call()
    elif event.kind == "inject" and event.slot is not None:
        faults.inject(event.slot)
    elif event.kind == "revert" and event.slot is not None:
        faults.revert(event.slot.name)
