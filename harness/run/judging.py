"""Collect each SLO's evidence per judged window, from Prometheus or the load record, and judge it."""

from __future__ import annotations

import logging
from typing import Any

from harness.evidence.collect import (
    Window,
    client_counts,
    collect_phases,
    peak_burn_rate,
)
from harness.evidence.counting import Count
from harness.evidence.phase import ClientCounts, PhaseEvidence
from harness.judge.slo import SloJudgement, budget_ratio, judge_slo
from harness.load.client_sli import METHOD as CLIENT_METHOD
from harness.load.client_sli import ClientSli, count_client_sli, peak_error_ratio
from harness.load.driver import LoadRun
from harness.load.record import Record
from harness.plan import Plan, SliQueries
from harness.prom.client import PromClient
from harness.run.load_summary import load_window
from harness.run.record import RunRecord
from harness.run.windows import expected_down, phase_windows
from harness.spec.loader import LoadedExperiment

log = logging.getLogger(__name__)


def judge_all(client: PromClient, loaded: LoadedExperiment, plan: Plan, state: RunRecord,
              load: LoadRun, now: float) -> list[SloJudgement]:
    with client.memo():
        return _judge_all(client, loaded, plan, state, load, phase_windows(plan, state, now))


def _judge_all(client: PromClient, loaded: LoadedExperiment, plan: Plan, state: RunRecord, load: LoadRun,
               windows: list[Window]) -> list[SloJudgement]:
    exact = loaded.experiment.evidence.counting == "exact"
    counts = {window.phase: client_counts(load_window(load, window)) for window in windows}
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
