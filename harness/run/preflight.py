"""Before anything starts: metrics and bounds exist, scrape intervals are learned, the budget gate holds."""

from __future__ import annotations

import logging
from dataclasses import replace

from harness.errors import Inconclusive, Refused, SpecError
from harness.evidence.budget import remaining_budget
from harness.evidence.collect import (
    NO_SERIES_YET,
    preflight,
    resolve_latency_bounds,
)
from harness.evidence.health import read_selectors
from harness.evidence.interval import active_targets, disagreement, learn_interval
from harness.judge.slo import budget_ratio
from harness.plan import Plan, SliQueries, settle_for
from harness.prom.client import PromClient
from harness.spec.loader import LoadedExperiment

log = logging.getLogger(__name__)


PREFLIGHT_LOOKBACK_S = 600.0


def check_before_start(client: PromClient, loaded: LoadedExperiment, plan: Plan, now: float, may_wait: bool = False,
                       stage: str = "nothing was started or injected") -> tuple[Plan, list[str]]:
    """Preflight and the budget gate: bad bounds are invalid input, missing metrics INCONCLUSIVE.

    With may_wait, metrics that have no series yet (a fresh system before its first request) are
    returned instead of refused: the runner checks them again under load, before any fault.
    """
    slis, invalid = resolve_latency_bounds(client, plan.slis, now, PREFLIGHT_LOOKBACK_S)
    waiting = [p for p in invalid if NO_SERIES_YET in p]
    invalid = [p for p in invalid if NO_SERIES_YET not in p]
    if invalid:
        raise SpecError([f"{loaded.path}: {problem}" for problem in invalid])
    missing = preflight(client, slis, now, PREFLIGHT_LOOKBACK_S)
    waiting += [p for p in missing if NO_SERIES_YET in p]
    blocking = [p for p in missing if NO_SERIES_YET not in p]
    if blocking or (waiting and not may_wait):
        raise Inconclusive("preflight: " + "; ".join(blocking + waiting) + f" ({stage})")
    learned = replace(plan, slis=tuple(slis))
    if loaded.experiment.target.platform != "local":
        learned = learn_intervals(client, loaded, learned, now)
    if not waiting:
        budget_gate(client, loaded, slis, now)
    return learned, waiting


def learn_intervals(client: PromClient, loaded: LoadedExperiment, plan: Plan, now: float) -> Plan:
    """Each SLI's scrape interval from Prometheus; the plan's is the largest (it paces waits and steps)."""
    targets = active_targets(client)
    declared = loaded.experiment.prometheus.scrape_interval if loaded.experiment.prometheus else None
    slis, found = [], []
    for sli in plan.slis:
        learned = learn_interval(client, read_selectors((sli.total, sli.good, sli.bad)), now, targets) \
            if sli.from_prometheus else None
        if learned is None:
            slis.append(sli)
            continue
        found.append(learned)
        slis.append(replace(sli, scrape_interval_s=learned.seconds, interval_source=learned.source))
        if declared is not None and (warning := disagreement(declared, learned)) is not None:
            log.warning("SLO %s: %s", sli.slo, warning)
            plan = replace(plan, warnings=(*plan.warnings, f"SLO {sli.slo}: {warning}"))
    if not found:
        return replace(plan, slis=tuple(slis))
    widest = max(found, key=lambda item: item.seconds)
    seconds = max(widest.seconds, declared or 0.0)
    settle = loaded.experiment.evidence.settle
    return replace(plan, slis=tuple(slis), scrape_interval_s=seconds, interval_source=widest.source,
                   settle_s=settle if settle is not None else settle_for(seconds))


def budget_gate(client: PromClient, loaded: LoadedExperiment, slis: list[SliQueries], now: float) -> None:
    """Refuse to start when an SLO has less budget left over its period than `min_budget_remaining`."""

    for hypothesis in loaded.experiment.hypothesis:
        if hypothesis.min_budget_remaining is None:
            continue
        slo = loaded.slo(hypothesis.slo)
        sli = next(s for s in slis if s.slo == slo.name)
        remaining = remaining_budget(client, sli, slo.period, budget_ratio(slo), now)
        needed = float(hypothesis.min_budget_remaining) / 100
        if remaining is None:
            raise Refused(f"budget gate: cannot read the remaining budget of {slo.name} over its "
                          f"{slo.period / 86400:g}d period (no data), and min_budget_remaining is set")
        if remaining < needed:
            raise Refused(f"budget gate: {slo.name} has {remaining:.2%} of its error budget left over its "
                          f"period, less than min_budget_remaining {needed:.2%}; nothing was started")
