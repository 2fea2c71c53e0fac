"""Proof that remediation works: recovery time, alert firing time, replicas restored (from Prometheus)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from harness.errors import EvidenceError
from harness.judge.slo import budget_ratio
from harness.plan import Plan, SliQueries, burn_query
from harness.prom.client import PromClient
from harness.run.cluster_checks import READINESS_EVERY_S
from harness.run.faultrunner import FaultRunner
from harness.run.record import ExpectationResult, RunRecord
from harness.run.remediation_proof import remediated
from harness.spec.loader import LoadedExperiment
from harness.spec.models import ExpectAlert, ExpectRecovers, ExpectRemediated, ExpectReplicasReady, InlineSLO


def _points(client: PromClient, query: str, start: float, end: float, step: float) -> list[tuple[float, float]]:
    if end < start:  # callers check first; a reversed range is a Prometheus 400, never evidence
        return []
    answer = client.query_range(query, start, end, step)
    points = [p for series in answer.matrix for p in series.points]
    return sorted(points)


def _result(kind: str, target: str, within: float, observed: float | None, why: str,
            resolution: float = 0.0, basis: str = "scrape interval") -> ExpectationResult:
    """A time measured at the query step is only known to ± one step: the verdict never flips on it."""
    if observed is None:
        return ExpectationResult(kind, target, within, "FAIL", None, why)
    measured = f"after {observed:.1f}s ± {resolution:g}s ({basis})"
    if observed + resolution <= within:
        return ExpectationResult(kind, target, within, "PASS", observed, f"{why} {measured} (within {within:g}s)")
    if observed - resolution > within:
        return ExpectationResult(kind, target, within, "FAIL", observed, f"{why} {measured} (beyond {within:g}s)")
    return ExpectationResult(kind, target, within, "INCONCLUSIVE", observed,
                             f"{why} {measured}: {observed:.1f}s ± {resolution:g}s against within {within:g}s: "
                             f"cannot tell at this {basis}")


def _ended_before(kind: str, target: str, within: float, start: float, end: float,
                  what: str) -> ExpectationResult | None:
    if end > start:
        return None
    return ExpectationResult(kind, target, within, "INCONCLUSIVE", None, f"the run ended before {what}")


def recovers(client: PromClient, expect: ExpectRecovers, slo: InlineSLO, sli: SliQueries,
             fault_end: float, run_end: float, step: float) -> ExpectationResult:
    """Time from the end of the last fault until the trailing good ratio is back at the objective for good."""
    early = _ended_before("recovers", slo.name, expect.within, fault_end, run_end, "the last fault ended")
    if early is not None:
        return early
    objective_error = float(budget_ratio(slo))
    points = _points(client, burn_query(sli, expect.window), fault_end, run_end, step)
    recovered_at = None
    for t, error_ratio in points:
        healthy = math.isfinite(error_ratio) and error_ratio <= objective_error
        if healthy and recovered_at is None:
            recovered_at = t
        elif not healthy:
            recovered_at = None
    if not points:
        return ExpectationResult("recovers", slo.name, expect.within, "INCONCLUSIVE", None,
                                 "no data after the last fault to judge recovery")
    if recovered_at is None:
        return _result("recovers", slo.name, expect.within, None,
                       f"not back at {slo.objective}% over a {expect.window:g}s window by the end of the run "
                       f"({run_end - fault_end:.0f}s after the last fault)")
    return _result("recovers", slo.name, expect.within, max(0.0, recovered_at - fault_end),
                   f"back at {slo.objective}% over a trailing {expect.window:g}s window", step)


def alert_fires(client: PromClient, expect: ExpectAlert, first_fault: float, run_end: float,
                step: float) -> ExpectationResult:
    early = _ended_before("alert", expect.alert, expect.within, first_fault, run_end, "the first fault started")
    if early is not None:
        return early
    query = f'max(ALERTS{{alertname="{expect.alert}",alertstate="firing"}})'
    points = _points(client, query, first_fault, run_end, step)
    if points and points[0][0] <= first_fault + step and points[0][1] >= 1:
        return ExpectationResult("alert", expect.alert, expect.within, "INCONCLUSIVE", None,
                                 f"alert {expect.alert} was already firing when the first fault started: "
                                 "that proves nothing about detecting this fault")
    fired = next((t for t, v in points if v >= 1), None)
    if fired is None:
        return _result("alert", expect.alert, expect.within, None,
                       f"alert {expect.alert} never reached firing ({run_end - first_fault:.0f}s observed)")
    return _result("alert", expect.alert, expect.within, fired - first_fault, f"alert {expect.alert} fired", step)


def replicas_ready(client: PromClient, expect: ExpectReplicasReady, kills: Sequence[float], run_end: float,
                   step: float, metric: str = "shop_replicas_ready",
                   samples: Sequence[tuple[float, float]] | None = None) -> ExpectationResult:
    """From Prometheus' `metric`, or from `samples` the run read from the platform itself (kubernetes:
    the workload's readyReplicas, every READINESS_EVERY_S)."""
    target = f"{expect.replicas_ready} replicas"
    if not kills:
        return ExpectationResult("replicas_ready", target, expect.within, "INCONCLUSIVE", None,
                                 "no pod-kill happened to count from")
    early = _ended_before("replicas_ready", target, expect.within, min(kills), run_end, "the pod-kill happened")
    if early is not None:
        return early
    worst = 0.0
    for kill in kills:
        points = (_points(client, f"max({metric})", kill, run_end, step) if samples is None
                  else [(t, v) for t, v in samples if kill <= t <= run_end])
        dipped = [t for t, v in points if v < expect.replicas_ready]
        restored = next((t for t, v in points if v >= expect.replicas_ready and (not dipped or t > dipped[0])),
                        None)
        if restored is None:
            return _result("replicas_ready", target, expect.within, None,
                           f"{target} not ready again by the end of the run")
        worst = max(worst, restored - kill if dipped else 0.0)
    basis = "scrape interval" if samples is None else "the workload's status, sampled at that interval"
    return _result("replicas_ready", target, expect.within, worst, f"{target} ready again", step, basis)


def refused_reason(err: EvidenceError) -> str:
    """A short reason for a failed query: Prometheus's answer can be kilobytes of PromQL."""
    text = str(err)
    status = re.search(r"\b(?:HTTP\s*)?(4\d\d|5\d\d)\b", text)
    detail = text if len(text) <= 120 else text[:120] + "…"
    if status:
        return f"could not be judged: Prometheus refused the query (HTTP {status.group(1)}: {detail})"
    return f"could not be judged: the query failed ({detail})"


def safe(call: object, kind: str, target: str, within: float) -> ExpectationResult:
    """Run one expectation; a failing query makes it INCONCLUSIVE rather than crashing the verdict."""
    try:
        result = call() if callable(call) else None
    except EvidenceError as err:
        return ExpectationResult(kind, target, within, "INCONCLUSIVE", None, refused_reason(err))
    assert isinstance(result, ExpectationResult)
    return result


def resolve_expectations(client: PromClient, loaded: LoadedExperiment, plan: Plan, state: RunRecord,
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
            results.append(safe(lambda i=item, s=slo: recovers(
                client, i, s, plan.sli(s.name), last_end, run_end, step), "recovers", item.recovers, item.within))
        elif isinstance(item, ExpectAlert):
            results.append(safe(lambda i=item: alert_fires(client, i, first_start, run_end, step),
                                       "alert", item.alert, item.within))
        elif isinstance(item, ExpectReplicasReady):
            samples = state.readiness if state.platform == "kubernetes" else None
            every = READINESS_EVERY_S if samples is not None else step
            results.append(safe(lambda i=item, r=samples, e=every: replicas_ready(client, i, kills, run_end, e,
                                                                                   samples=r),
                                       "replicas_ready", str(item.replicas_ready), item.within))
        elif isinstance(item, ExpectRemediated):
            results.append(remediated(item, state.chain, step))
    return results


def _kind(item: ExpectRecovers | ExpectAlert | ExpectReplicasReady | ExpectRemediated) -> str:
    return {ExpectRecovers: "recovers", ExpectAlert: "alert", ExpectReplicasReady: "replicas_ready",
            ExpectRemediated: "remediated"}[type(item)]


