"""After the timeline: the checks before start, then evidence, judgements and expectations."""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from typing import Any

from harness.errors import EvidenceError, Inconclusive, Refused, SpecError
from harness.evidence.collect import (
    NO_SERIES_YET,
    Window,
    client_counts,
    collect_phases,
    peak_burn_rate,
    preflight,
    resolve_latency_bounds,
    series_jobs,
)
from harness.evidence.counting import Count, increase_count
from harness.evidence.health import ExpectDown, read_selectors
from harness.evidence.interval import active_targets, disagreement, learn_interval
from harness.evidence.outages import ExpectedDown
from harness.evidence.queries import increase_query
from harness.judge.slo import ClientCounts, PhaseEvidence, SloJudgement, budget_ratio, judge_slo
from harness.load.client_sli import METHOD as CLIENT_METHOD
from harness.load.client_sli import ClientSli, count_client_sli, peak_error_ratio
from harness.load.driver import LoadRun
from harness.load.record import Record
from harness.plan import Plan, SliQueries, settle_for
from harness.prom.client import PromClient
from harness.run import expectations as expect
from harness.run.faultrunner import FaultRunner
from harness.run.record import ExpectationResult, RunRecord
from harness.spec.loader import LoadedExperiment
from harness.spec.models import PHASE_ORDER, ExpectAlert, ExpectRecovers, ExpectReplicasReady

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


def judge_all(client: PromClient, loaded: LoadedExperiment, plan: Plan, state: RunRecord,
              load: LoadRun, now: float) -> list[SloJudgement]:
    with client.memo():
        return _judge_all(client, loaded, plan, state, load, phase_windows(plan, state, now))


def _judge_all(client: PromClient, loaded: LoadedExperiment, plan: Plan, state: RunRecord, load: LoadRun,
               windows: list[Window]) -> list[SloJudgement]:
    exact = loaded.experiment.evidence.counting == "exact"
    counts = {window.phase: client_counts(_window_dict(load, window)) for window in windows}
    hypotheses = loaded.experiment.hypothesis
    work = [(plan.sli(h.slo), window, counts[window.phase]) for h in hypotheses for window in windows
            if plan.sli(h.slo).from_prometheus]
    collected = iter(collect_phases(client, work, plan, exact, expected=expected_down(
        state, loaded.experiment.target.local_or_default.restart_delay)))
    record = load.record() if any(not plan.sli(h.slo).from_prometheus for h in hypotheses) else None
    judgements = []
    for hypothesis in hypotheses:
        slo = loaded.slo(hypothesis.slo)
        sli = plan.sli(slo.name)
        evidence: list[PhaseEvidence] = [
            next(collected) if record is None or sli.client is None
            else client_phase(record, sli.client, window, counts[window.phase]) for window in windows]
        for phase in hypothesis.judged_phases:
            if phase not in {w.phase for w in windows}:
                missing = Count(None, "none", 0, problems=(f"phase {phase} never ran",))
                evidence.append(PhaseEvidence(phase, 0.0, 0.0, missing))
        peak = _peak(client, loaded, sli, slo, windows, plan, record)
        judgements.append(judge_slo(slo, hypothesis, evidence, loaded.experiment.evidence, peak))
    return judgements


def _peak(client: PromClient, loaded: LoadedExperiment, sli: SliQueries, slo: Any, windows: list[Window],
          plan: Plan, record: Record | None = None) -> float | None:
    judged = [w for w in windows if w.phase != "warmup"]
    if not judged:
        return None
    window_s = loaded.experiment.abort.window if loaded.experiment.abort else 30.0
    if sli.client is not None:
        if record is None:
            return None
        ratio = peak_error_ratio(record, sli.client, judged[0].start, judged[-1].end, window_s)
        return None if ratio is None else ratio / float(budget_ratio(slo))
    return peak_burn_rate(client, sli, float(budget_ratio(slo)), judged[0].start, judged[-1].end,
                          min(window_s, judged[-1].end - judged[0].start), plan.scrape_interval_s)


def client_phase(record: Record, sli: ClientSli, window: Window, load: ClientCounts | None) -> PhaseEvidence:
    """A client SLI's evidence for one phase, counted from the load record (no Prometheus involved)."""
    counted = count_client_sli(record, sli, window.start, window.end)
    problems = counted.problems
    total = Count(None if problems else float(counted.total), CLIENT_METHOD, 1, problems=problems)
    good = Count(None if problems else float(counted.good), CLIENT_METHOD, 1, problems=problems)
    queries = {"client": f"{sli.describe()}; whole seconds [{counted.first_second}, {counted.end_second})"}
    notes = (f"{counted.dropped} arrivals dropped at max_in_flight, counted bad",) if counted.dropped else ()
    return PhaseEvidence(window.phase, window.start, window.end, total, good, None, (), load, queries,
                         telemetry_notes=notes, kind="client")


def _window_dict(load: LoadRun, window: Window) -> dict[str, Any] | None:
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
            phases[name] = _window_dict(load, Window(name, real["start"], real["end"]))
    starts = [p["start"] for p in state.phases.values() if "start" in p]
    ends = [p["end"] for p in state.phases.values() if "end" in p]
    overall = _window_dict(load, Window("run", min(starts), max(ends))) if starts and ends else None
    summary: dict[str, Any] = dict(overall or {"requests": 0, "failures": 0, "achieved_rps": 0.0})
    summary["phases"] = phases
    summary["log"] = str(load.log_path)
    return summary


def expectations(client: PromClient, loaded: LoadedExperiment, plan: Plan, state: RunRecord,
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
