"""Injects and reverts faults, journalling each step; `revert_all` runs on every path out of a run."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, PlatformError
from harness.faults.base import FaultCheck, FaultContext, Prepared
from harness.faults.calls import NOT_VERIFIED
from harness.faults.registry import prepare
from harness.faults.undo import undo_live
from harness.faults.verify import check as verify_fault
from harness.plan import FaultSlot
from harness.run.journal import Journal
from harness.spec.faults import FaultBase

log = logging.getLogger(__name__)


@dataclass
class FaultRecord:
    """What happened to one fault: real timestamps, targets, revert outcome and its effect check."""

    name: str
    type: str
    planned_start: float
    planned_end: float
    targets: tuple[str, ...] = ()
    started: float | None = None
    ended: float | None = None
    reverted: bool | None = None
    error: str | None = None
    environment_failed: bool = False
    """The error came from the platform (an unreachable API server, an RBAC denial), not from the fault."""
    revert_error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    check: FaultCheck | None = None
    verified: FaultCheck | None = None
    """The outcome of the fault's own `verify:` block, checked right after injection."""
    prepared: Prepared | None = None
    undo: Mapping[str, Any] | None = None
    fault: FaultBase | None = None
    cwd: Path | None = None

    @property
    def active(self) -> bool:
        return self.started is not None and self.ended is None


class FaultRunner:
    def __init__(self, journal: Journal, context: Callable[[FaultSlot], FaultContext],
                 clock: Callable[[], float],
                 shield: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._journal = journal
        self._context = context
        self._clock = clock
        self._shield = shield  # a signal must not cut an injection or a revert in half
        self._sleep = sleep
        self._lock = threading.Lock()
        self.records: dict[str, FaultRecord] = {}

    def context(self, slot: FaultSlot) -> FaultContext:
        """What a driver is given for this slot (also used to aim faults before the run starts)."""
        return self._context(slot)

    def inject(self, slot: FaultSlot) -> FaultRecord:
        fault = slot.fault
        record = FaultRecord(fault.name, str(fault.type), slot.start, slot.end)
        self.records[fault.name] = record
        context = self._context(slot)
        record.cwd = context.experiment_path.parent
        try:
            prepared = prepare(fault, context)
        except HarnessError as err:
            record.error = str(err)
            record.environment_failed = isinstance(err, PlatformError)
            log.error("fault %s could not be prepared: %s", fault.name, err)
            return record
        record.targets, record.prepared, record.undo = prepared.targets, prepared, prepared.undo
        record.fault = fault
        with self._shield(), self._lock:
            self._journal.write("intent", fault.name, type=record.type, targets=list(prepared.targets),
                                undo=prepared.undo)
            record.started = self._clock()
            try:
                details = dict(prepared.apply())
            except (HarnessError, OSError) as err:
                record.environment_failed = isinstance(err, PlatformError)
                self._failed(record, f"injection failed: {err}")
                return record
            post_undo = details.pop("undo", None)
            if post_undo is not None:
                record.undo = post_undo
            self._journal.write("applied", fault.name, undo=post_undo)
            record.details = details
        log.info("fault %s injected on %s", fault.name, ", ".join(prepared.targets) or "nothing")
        if fault.verify is not None:
            # outside the shield: it may wait up to `within`, and a Ctrl-C must still halt the run
            # never longer than the fault lasts: the wait holds up the timeline, reverts included
            lasts = slot.end - slot.start if fault.persists else fault.verify.within
            verify = fault.verify.model_copy(update={"within": max(0.5, min(fault.verify.within, lasts))})
            record.verified = verify_fault(verify, context.query, self._clock, self._sleep, record.started)
            log.info("fault %s: %s", fault.name, record.verified.observed)
        if not fault.persists:
            self._finish(record, reverted=None)
        return record

    def _failed(self, record: FaultRecord, error: str) -> None:
        """A failed injection was never applied: it is journalled as failed (so `harness rollback` has
        nothing to do), never "reverted", and its undo runs once, best effort, in case it half worked."""
        record.error = error
        log.error("fault %s: %s", record.name, error)
        cleanup, cleaned = "nothing to undo", True
        if record.undo is not None:
            try:
                cleanup = undo_live(record.undo, record.fault, record.cwd)
            except Exception as err:  # it was never applied: a failing undo is not a failed revert
                cleanup = f"best-effort undo after the failed injection did not run cleanly: {err}"
                # the harness's own undos (proxy, resume, kill) stay pending for `harness rollback`;
                # a user's stop command after its start failed has nothing of its own to undo
                cleaned = record.undo.get("kind") == "experiment-fault"
        self._journal.write("apply-failed", record.name, error=error, cleaned=cleaned)
        record.details = {"cleanup": cleanup}
        record.check = FaultCheck(False, error)
        self._finish(record, reverted=None)

    def revert(self, name: str) -> None:
        record = self.records.get(name)
        if record is None or not record.active:
            return
        with self._shield(), self._lock:
            # Checked while still in place: counters read after the revert would dilute the effect.
            record.check = self._check(record)
            if record.undo is None:
                self._finish(record, reverted=True)
                return
            try:
                result = undo_live(record.undo, record.fault, record.cwd)
            except Exception as err:  # any failure is reported loudly; never leaves revert_all half done
                record.revert_error = str(err)
                self._journal.write("revert-failed", name, error=str(err))
                log.error("REVERT FAILED for fault %s: %s (run `harness rollback` on the run dir)", name, err)
                self._finish(record, reverted=False)
                return
            self._journal.write("reverted", name, result=result)
            self._finish(record, reverted=True)
        log.info("fault %s reverted", name)

    def revert_all(self) -> None:
        """Revert every active fault, newest first. Never raises: each failure is recorded loudly."""
        for record in reversed(list(self.records.values())):
            if record.active:
                self.revert(record.name)

    def _finish(self, record: FaultRecord, reverted: bool | None) -> None:
        record.ended = self._clock()
        record.reverted = reverted

    def verify_all(self) -> None:
        """Check every fault's effect; a fault checked at its revert keeps that check."""
        for record in self.records.values():
            if record.check is None:
                record.check = self._check(record)
            record.check = combined(record.check, record.verified)

    @staticmethod
    def _check(record: FaultRecord) -> FaultCheck | None:
        prepared = record.prepared
        if record.error is not None:
            return FaultCheck(False, record.error)
        if not record.targets:
            return FaultCheck(False, "aimed at nothing: no target matched the selector")
        if prepared is None or prepared.verify is None:
            return None
        try:
            return prepared.verify(record.details)
        except (HarnessError, OSError) as err:
            return FaultCheck(None, f"could not check the effect: {err}")

    @property
    def active_count(self) -> int:
        return sum(1 for r in self.records.values() if r.active)


def combined(own: FaultCheck | None, verified: FaultCheck | None) -> FaultCheck | None:
    """The fault type's own check and the user's `verify:`: True only when every check that ran says so."""
    if verified is None:
        return own
    if own is None:
        return verified
    for outcome in (False, None):
        if outcome in (own.took_effect, verified.took_effect):
            took: bool | None = outcome
            break
    else:
        took = True
    return FaultCheck(took, f"{own.observed.replace(NOT_VERIFIED, '')}; {verified.observed}")
