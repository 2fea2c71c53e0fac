"""The abort guard: while faults are active, halt the run when the burn rate stays above the limit."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from harness.errors import EvidenceError
from harness.evidence.queries import increase_query
from harness.plan import SliQueries
from harness.prom.client import PromClient
from harness.spec.models import Abort

log = logging.getLogger(__name__)


def burn_query(sli: SliQueries, window_s: float) -> str:
    """The error ratio over a trailing window, as one PromQL expression."""
    total = increase_query(sli.total, window_s)
    # No matching bad (or good) series means no such event yet, not a missing metric: preflight has
    # already checked that every metric exists.
    if sli.bad is not None:
        return f"(({increase_query(sli.bad, window_s)}) or vector(0)) / ({total})"
    return f"1 - (({increase_query(sli.good or '', window_s)}) or vector(0)) / ({total})"


@dataclass
class AbortGuard:
    abort: Abort
    watched: list[tuple[SliQueries, float]]  # (SLI, budget ratio B)
    breaches: int = 0
    checks: list[dict[str, Any]] = field(default_factory=list)

    def check(self, client: PromClient, now: float) -> str | None:
        """One check; returns the reason to halt after `consecutive` breaches in a row, else None.

        A burn rate that cannot be read (no completed request in the window, a NaN, Prometheus not
        answering) counts as a breach: while faults are active, not seeing is no reason to go on.
        """
        worst: tuple[str, float] | None = None
        unknown: list[str] = []
        for sli, budget in self.watched:
            try:
                answer = client.query(burn_query(sli, self.abort.window), at=now)
            except EvidenceError as err:
                log.warning("abort guard: cannot read the burn rate of %s: %s", sli.slo, err)
                unknown.append(sli.slo)
                continue
            values = [s.value for s in answer.vector if math.isfinite(s.value)]
            if not values:
                unknown.append(sli.slo)
                continue
            burn = values[0] / budget
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
