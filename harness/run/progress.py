"""Live progress while a run goes: phase, time left, current SLIs, burn rate and load."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import EvidenceError
from harness.judge.slo import budget_ratio
from harness.load.driver import LoadRun
from harness.load.record import Record
from harness.plan import Plan
from harness.prom.client import PromClient
from harness.run.faultrunner import FaultRunner
from harness.run.guard import error_ratio_now
from harness.run.record import RunRecord
from harness.spec.loader import LoadedExperiment

LIVE_WINDOW_S = 10.0


@dataclass(frozen=True)
class SliNow:
    slo: str
    sli: float | None
    burn_rate: float | None


@dataclass(frozen=True)
class Snapshot:
    phase: str
    phase_left_s: float
    run_left_s: float
    slis: tuple[SliNow, ...]
    rps: float
    requests: int
    failures: int
    active_faults: tuple[str, ...]


ProgressSink = Callable[[Snapshot], None]


class Progress:
    def __init__(self, plan: Plan, client: PromClient, load: LoadRun, faults: FaultRunner, state: RunRecord,
                 sink: ProgressSink, loaded: LoadedExperiment) -> None:
        self._plan, self._client, self._load, self._faults = plan, client, load, faults
        self._state, self._sink, self._loaded = state, sink, loaded

    def tick(self, now: float) -> None:
        offset = now - self._load.started_at
        span = next((p for p in self._plan.phases if p.start <= offset < p.end), self._plan.phases[-1])
        latest = self._load.latest(5.0)
        hypotheses = self._loaded.experiment.hypothesis
        needs_record = any(self._plan.sli(h.slo).client is not None for h in hypotheses)
        record = self._load.record_now() if needs_record else None
        self._sink(Snapshot(span.name, max(0.0, span.end - offset), max(0.0, self._plan.duration - offset),
                            tuple(self._sli_now(h.slo, now, record) for h in hypotheses),
                            latest.achieved_rps, latest.requests, latest.failures,
                            tuple(r.name for r in self._faults.records.values() if r.active)))

    def _sli_now(self, name: str, now: float, record: tuple[Record, float] | None) -> SliNow:
        try:
            error_ratio = error_ratio_now(self._client, self._plan.sli(name), LIVE_WINDOW_S, now, record)
        except EvidenceError:
            return SliNow(name, None, None)
        if error_ratio is None:
            return SliNow(name, None, None)
        return SliNow(name, 1.0 - error_ratio, error_ratio / float(budget_ratio(self._loaded.slo(name))))
