"""What a game day checks between experiments, against the experiment's own Prometheus: the error
budget left over each SLO's real period (the budget gate), and whether the SLOs are back at their
objectives (the cooldown's steady state)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.errors import EvidenceError
from harness.evidence.budget import remaining_budget
from harness.evidence.collect import resolve_latency_bounds
from harness.judge.slo import budget_ratio
from harness.plan import SliQueries, build_plan, burn_query
from harness.prom.client import PromClient
from harness.result.gameday import BudgetCheck
from harness.spec.loader import LoadedExperiment

STEADY_WINDOW_S = 60.0  # the SLI over the last minute: long enough for a few scrapes, short enough to recover
BOUND_LOOKBACK_S = 3600.0


def client_for(loaded: LoadedExperiment) -> PromClient | None:
    """The user's Prometheus of an experiment (None on the local platform, which starts its own per run)."""
    config = loaded.experiment.prometheus
    if loaded.experiment.target.platform == "local" or config is None:
        return None
    return PromClient(config.url, dict(config.headers), config.timeout)


def _slis(client: PromClient, loaded: LoadedExperiment, now: float) -> tuple[list[SliQueries], list[str]]:
    names = {h.slo for h in loaded.experiment.hypothesis}
    slis = [s for s in build_plan(loaded).slis if s.slo in names and s.from_prometheus]
    return resolve_latency_bounds(client, slis, now, BOUND_LOOKBACK_S)


def budget_checks(client: PromClient, loaded: LoadedExperiment, needed: float, now: float) -> list[BudgetCheck]:
    """Each SLO of the experiment's hypothesis: the budget left over its period against `needed` (a share)."""
    try:
        slis, problems = _slis(client, loaded, now)
    except EvidenceError as err:
        return [BudgetCheck(before=loaded.name, slo="(all)", time=now, remaining=None, needed=needed, passed=False,
                            detail=f"Prometheus at {client.url} could not be read: {err}")]
    checks = []
    for sli in slis:
        slo = loaded.slo(sli.slo)
        days = f"{slo.period / 86400:g}d"
        try:
            remaining = remaining_budget(client, sli, slo.period, budget_ratio(slo), now)
        except EvidenceError as err:
            remaining, detail = None, f"could not be read: {err}"
        else:
            detail = (f"no usable counts over its {days} period: fail closed" if remaining is None else
                      f"{remaining:.2%} of the {days} error budget left (needed {needed:.2%})")
        checks.append(BudgetCheck(before=loaded.name, slo=sli.slo, time=now, remaining=remaining, needed=needed,
                                  passed=remaining is not None and remaining >= needed, detail=detail))
    checks += [BudgetCheck(before=loaded.name, slo="(bounds)", time=now, remaining=None, needed=needed,
                           passed=False, detail=problem) for problem in problems]
    return checks


@dataclass(frozen=True)
class Steadiness:
    steady: bool
    detail: str


def steady_state(client: PromClient, loaded: LoadedExperiment, now: float) -> Steadiness:
    """Every SLO of the experiment at or above its objective over the last minute (no data: not steady)."""
    try:
        slis, problems = _slis(client, loaded, now)
    except EvidenceError as err:
        return Steadiness(False, f"Prometheus could not be read: {err}")
    if problems:
        return Steadiness(False, "; ".join(problems))
    below = []
    for sli in slis:
        objective = float(loaded.slo(sli.slo).objective) / 100
        try:
            answer = client.query(burn_query(sli, STEADY_WINDOW_S), at=now)
        except EvidenceError as err:
            return Steadiness(False, f"{sli.slo}: {err}")
        values = [s.value for s in answer.vector if math.isfinite(s.value)]
        if len(values) != 1:
            below.append(f"{sli.slo}: no data over the last {STEADY_WINDOW_S:g}s")
        elif 1.0 - values[0] < objective:
            below.append(f"{sli.slo} {1.0 - values[0]:.3%} < {objective:.3%}")
    if below:
        return Steadiness(False, "; ".join(below))
    return Steadiness(True, f"every SLO at objective over the last {STEADY_WINDOW_S:g}s")


def wait_for_steady_state(check: Callable[[float], Steadiness], clock: Callable[[], float],
                          sleep: Callable[[float], None], limit_s: float, halted: Callable[[], bool],
                          every_s: float = 2.0) -> tuple[Steadiness, float]:
    """Check until steady, the limit passes or the day is interrupted; returns the last answer and the
    seconds waited."""
    began = clock()
    while True:
        answer = check(clock())
        waited = clock() - began
        if answer.steady or waited >= limit_s or halted():
            return answer, waited
        sleep(min(every_s, max(0.0, limit_s - waited)))


def failed(checks: Sequence[BudgetCheck]) -> list[BudgetCheck]:
    return [check for check in checks if not check.passed]
