"""After the timeline: the checks before start, then evidence, judgements and expectations."""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from typing import Any

from harness.collect import (
    Window,
    client_counts,
    collect_phases,
    peak_burn_rate,
    preflight,
    resolve_latency_bounds,
)
from harness.errors import EvidenceError, SpecError
from harness.evidence.counting import Count, increase_count
from harness.evidence.queries import increase_query
from harness.judge import PhaseEvidence, SloJudgement, budget_ratio, judge_slo
from harness.load.driver import LoadRun
from harness.plan import Plan, SliQueries
from harness.prom.client import PromClient
from harness.run import expectations as expect
from harness.run.faultrunner import FaultRunner
from harness.run.state import ExpectationResult, RunState
from harness.spec.loader import LoadedExperiment
from harness.spec.models import PHASE_ORDER, ExpectAlert, ExpectRecovers, ExpectReplicasReady

log = logging.getLogger(__name__)
PREFLIGHT_LOOKBACK_S = 600.0


def check_before_start(client: PromClient, loaded: LoadedExperiment, plan: Plan, now: float) -> Plan:
    """Preflight and the budget gate: bad bounds are invalid input, missing metrics INCONCLUSIVE."""
    from harness.run.runner import Inconclusive

    slis, invalid = resolve_latency_bounds(client, plan.slis, now, PREFLIGHT_LOOKBACK_S)
    if invalid:
        raise SpecError([f"{loaded.path}: {problem}" for problem in invalid])
    missing = preflight(client, slis, now, PREFLIGHT_LOOKBACK_S)
    if missing:
        raise Inconclusive("preflight: " + "; ".join(missing) + " (nothing was started or injected)")
    budget_gate(client, loaded, slis, now)
    return replace(plan, slis=tuple(slis))


def budget_gate(client: PromClient, loaded: LoadedExperiment, slis: list[SliQueries], now: float) -> None:
    """Refuse to start when an SLO has less budget left over its period than `min_budget_remaining`."""
    from harness.run.runner import Refused

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


def remaining_budget(client: PromClient, sli: SliQueries, period_s: float, budget: Decimal,
                     now: float) -> float | None:
    """The share of the period's error budget left, or None when the counts cannot be trusted.

    Fails closed like the verdicts: NaN, Inf, several series, warnings or a good count above the
    total give None, never a full budget. An empty bad (or good) side means no such event (preflight
    has already checked that its metric exists).
    """
    total = increase_count(client.query(increase_query(sli.total, period_s), at=now))
    side = sli.bad if sli.bad is not None else sli.good
    assert side is not None
    counted = increase_count(client.query(increase_query(side, period_s), at=now))
    if total.value is None or total.problems or total.value <= 0:
        return None
    no_events = counted.value is None and counted.problems == ("empty result",)
    if not no_events and (counted.value is None or counted.problems):
        return None
    value = counted.value or 0.0
    bad = value if sli.bad is not None else total.value - value
    if not -1e-9 <= bad <= total.value * (1 + 1e-9):
        return None
    return 1.0 - (max(bad, 0.0) / total.value) / float(budget)


def scraped_after(client: PromClient, plan: Plan, moment: float, now: float) -> bool:
    """Whether every target behind the SLIs has a sample newer than `moment` (the last scrape landed)."""
    from harness.collect import Window, series_jobs

    window = Window("settle", moment - max(60.0, 5 * plan.scrape_interval_s), now)
    try:
        jobs = sorted({job for sli in plan.slis for job in series_jobs(client, sli.total, window)})
        if not jobs:
            return True  # full expressions: nothing to watch, the fixed settle time applies
        pattern = "|".join(jobs)
        answer = client.query(f'min(timestamp(up{{job=~"{pattern}"}}))', at=now)
    except EvidenceError:
        return True
    return bool(answer.vector) and answer.vector[0].value >= moment


def watched_slis(loaded: LoadedExperiment, plan: Plan) -> list[tuple[SliQueries, float]]:
    abort = loaded.experiment.abort
    names = [abort.slo] if abort and abort.slo else [h.slo for h in loaded.experiment.hypothesis]
    return [(plan.sli(name), float(budget_ratio(loaded.slo(name)))) for name in names]


def phase_windows(plan: Plan, state: RunState, now: float) -> list[Window]:
    """Each phase's real window minus its guard bands; a phase cut short by a halt ends at the halt."""
    windows = []
    for name in PHASE_ORDER:
        real = state.phases.get(name)
        if not real or "start" not in real:
            continue
        end = real.get("end", state.ended or now)
        start, stop = real["start"] + plan.guard_s, end - plan.guard_s
        if stop > start:
            windows.append(Window(name, start, stop))
    return windows


def judge_all(client: PromClient, loaded: LoadedExperiment, plan: Plan, state: RunState,
              load: LoadRun) -> list[SloJudgement]:
    import time

    with client.memo():
        return _judge_all(client, loaded, plan, state, load, phase_windows(plan, state, time.time()))


def _judge_all(client: PromClient, loaded: LoadedExperiment, plan: Plan, state: RunState, load: LoadRun,
               windows: list[Window]) -> list[SloJudgement]:
    exact = loaded.experiment.evidence.counting == "exact"
    counts = {window.phase: client_counts(_window_dict(load, window)) for window in windows}
    work = [(plan.sli(h.slo), window, counts[window.phase]) for h in loaded.experiment.hypothesis for window in windows]
    collected = iter(collect_phases(client, work, plan, exact))
    judgements = []
    for hypothesis in loaded.experiment.hypothesis:
        slo = loaded.slo(hypothesis.slo)
        sli = plan.sli(slo.name)
        evidence: list[PhaseEvidence] = [next(collected) for _ in windows]
        for phase in hypothesis.judged_phases:
            if phase not in {w.phase for w in windows}:
                missing = Count(None, "none", 0, problems=(f"phase {phase} never ran",))
                evidence.append(PhaseEvidence(phase, 0.0, 0.0, missing))
        peak = _peak(client, loaded, sli, slo, windows, plan)
        judgements.append(judge_slo(slo, hypothesis, evidence, loaded.experiment.evidence, peak))
    return judgements


def _peak(client: PromClient, loaded: LoadedExperiment, sli: SliQueries, slo: Any, windows: list[Window],
          plan: Plan) -> float | None:
    judged = [w for w in windows if w.phase != "warmup"]
    if not judged:
        return None
    window_s = loaded.experiment.abort.window if loaded.experiment.abort else 30.0
    return peak_burn_rate(client, sli, float(budget_ratio(slo)), judged[0].start, judged[-1].end,
                          min(window_s, judged[-1].end - judged[0].start), plan.scrape_interval_s)


def _window_dict(load: LoadRun, window: Window) -> dict[str, Any] | None:
    try:
        counted = load.window(window.start, window.end)
    except (OSError, ValueError) as err:
        log.warning("client-side counts unavailable: %s", err)
        return None
    return {"requests": counted.requests, "failures": counted.failures, "achieved_rps": counted.achieved_rps,
            "requested_rps": counted.requested_rps}


def load_summary(load: LoadRun, state: RunState) -> dict[str, Any]:
    phases = {}
    for name, real in state.phases.items():
        if "start" in real and "end" in real:
            phases[name] = _window_dict(load, Window(name, real["start"], real["end"]))
    starts = [p["start"] for p in state.phases.values() if "start" in p]
    ends = [p["end"] for p in state.phases.values() if "end" in p]
    overall = _window_dict(load, Window("run", min(starts), max(ends))) if starts and ends else None
    summary: dict[str, Any] = dict(overall or {"requests": 0, "failures": 0, "achieved_rps": 0.0})
    summary["phases"] = phases
    summary["log"] = str(load.log_path)
    return summary


def expectations(client: PromClient, loaded: LoadedExperiment, plan: Plan, state: RunState,
                 faults: FaultRunner) -> list[ExpectationResult]:
    records = [r for r in faults.records.values() if r.started is not None]
    if not loaded.experiment.expect:
        return []
    run_end = max((p.get("end", 0.0) for p in state.phases.values()), default=state.started)
    if not records:
        return [ExpectationResult(_kind(e), "-", e.within, "INCONCLUSIVE", None, "no fault ran")
                for e in loaded.experiment.expect]
    last_end = max(r.ended or r.started or 0.0 for r in records)
    first_start = min(r.started or 0.0 for r in records)
    kills = [r.started or 0.0 for r in records if r.type == "pod-kill"]
    step = plan.scrape_interval_s
    results = []
    for item in loaded.experiment.expect:
        if isinstance(item, ExpectRecovers):
            slo = loaded.slo(item.recovers)
            results.append(expect.safe(lambda i=item, s=slo: expect.recovers(
                client, i, s, plan.sli(s.name), last_end, run_end, step), "recovers", item.recovers, item.within))
        elif isinstance(item, ExpectAlert):
            results.append(expect.safe(lambda i=item: expect.alert_fires(client, i, first_start, run_end, step),
                                       "alert", item.alert, item.within))
        elif isinstance(item, ExpectReplicasReady):
            results.append(expect.safe(lambda i=item: expect.replicas_ready(client, i, kills, run_end, step),
                                       "replicas_ready", str(item.replicas_ready), item.within))
    return results


def _kind(item: ExpectRecovers | ExpectAlert | ExpectReplicasReady) -> str:
    return {ExpectRecovers: "recovers", ExpectAlert: "alert", ExpectReplicasReady: "replicas_ready"}[type(item)]


__all__ = ["EvidenceError", "check_before_start", "expectations", "judge_all", "load_summary", "watched_slis"]
