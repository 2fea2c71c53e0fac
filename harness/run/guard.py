"""The abort guard: while faults are active, halt the run when the burn rate stays above the limit."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.errors import EvidenceError
from harness.judge.slo import budget_ratio
from harness.load.client_sli import recent_error_ratio
from harness.load.record import Record
from harness.plan import Plan, SliQueries, burn_query
from harness.prom.client import PromClient
from harness.spec.loader import LoadedExperiment
from harness.spec.models import Abort

log = logging.getLogger(__name__)


LoadRecordReader = Callable[[], tuple[Record, float]]
"""The load record so far and the end of its newest complete second (client SLIs are read from it)."""


def error_ratio_now(client: PromClient, sli: SliQueries, window_s: float, now: float,
                    load_record: tuple[Record, float] | None) -> float | None:
    """The SLI's error ratio over the trailing window: PromQL, or the load record for a client SLI.

    None when it cannot be read. Raises EvidenceError when Prometheus does not answer.
    """
    if sli.client is not None:
        if load_record is None:
            return None
        record, newest = load_record
        return recent_error_ratio(record, sli.client, newest, window_s)
    answer = client.query(burn_query(sli, window_s), at=now)
    values = [s.value for s in answer.vector if math.isfinite(s.value)]
    return values[0] if values else None


@dataclass
class AbortGuard:
    abort: Abort
    watched: list[tuple[SliQueries, float]]  # (SLI, budget ratio B)
    load_record: LoadRecordReader | None = None
    breaches: int = 0
    checks: list[dict[str, Any]] = field(default_factory=list)

    def check(self, client: PromClient, now: float) -> str | None:
        """One check; returns the reason to halt after `consecutive` breaches in a row, else None.

        A burn rate that cannot be read (no completed request in the window, a NaN, Prometheus not
        answering) counts as a breach: while faults are active, not seeing is no reason to go on.
        """
        worst: tuple[str, float] | None = None
        unknown: list[str] = []
        needs_record = any(sli.client is not None for sli, _ in self.watched)
        record = self.load_record() if needs_record and self.load_record is not None else None
        for sli, budget in self.watched:
            try:
                ratio = error_ratio_now(client, sli, self.abort.window, now, record)
            except EvidenceError as err:
                log.warning("abort guard: cannot read the burn rate of %s: %s", sli.slo, err)
                unknown.append(sli.slo)
                continue
            if ratio is None:
                unknown.append(sli.slo)
                continue
            burn = ratio / budget
            if worst is None or burn > worst[1]:
                worst = (sli.slo, burn)
        breached = bool(unknown) or (worst is not None and worst[1] > self.abort.max_burn_rate)
        self.breaches = self.breaches + 1 if breached else 0
        self.checks.append({"time": now, "slo": worst[0] if worst else None,
                            "burn_rate": round(worst[1], 3) if worst else None, "breach": breached,
                            "unknown": unknown})
        if self.breaches < self.abort.consecutive:
            return None
        if worst is not None and worst[1] > self.abort.max_burn_rate:
            return (f"abort: burn rate of {worst[0]} was {worst[1]:.1f} over the last {self.abort.window:g}s, above "
                    f"{self.abort.max_burn_rate:g}, {self.breaches} checks in a row")
        return (f"abort: the burn rate of {', '.join(unknown)} could not be read over the last "
                f"{self.abort.window:g}s (no completed requests, or Prometheus did not answer), "
                f"{self.breaches} checks in a row")


def watched_slis(loaded: LoadedExperiment, plan: Plan) -> list[tuple[SliQueries, float]]:
    abort = loaded.experiment.abort
    names = [abort.slo] if abort and abort.slo else [h.slo for h in loaded.experiment.hypothesis]
    return [(plan.sli(name), float(budget_ratio(loaded.slo(name)))) for name in names]
