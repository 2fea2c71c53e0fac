"""The remediation chain's moments and numbers, from Prometheus and what the chain recorded.

For each remediation entry (or, without one, each alerting SLO's page): the first fault, the first
breach of the SLO (its trailing error ratio over the objective's budget), the alert pending and
firing (from Prometheus's own ALERTS series), the webhook call, the runbook's start, steps and end,
and the SLO back at its objective for good. The numbers follow from them:

- time to detect: alert firing - first fault start;
- time to mitigate: runbook finished - alert firing;
- time to recover: SLO back at objective - alert firing (what `expect: remediated` bounds);
- budget consumed from the first fault until the recovery (or the end of the run).
"""

from __future__ import annotations

import math

from harness.errors import EvidenceError
from harness.judge.slo import budget_ratio
from harness.plan import Plan, burn_query
from harness.prom.client import PromClient
from harness.run.chain_times import ChainTimes
from harness.run.record import ExpectationResult, RunRecord
from harness.spec.alerting import generated_alert, generated_alerts
from harness.spec.loader import LoadedExperiment
from harness.spec.models import ExpectRemediated

BREACH_WINDOW_S = 10.0
"""The trailing window whose error ratio shows a breach and a recovery."""


def chain_targets(loaded: LoadedExperiment) -> list[tuple[str, str, str | None]]:
    """(SLO, alert, runbook) for each remediation entry, else each alerting SLO's page alert."""
    generated = generated_alerts(loaded.experiment, loaded.slos)
    found = [(r.slo or generated.get(r.on_alert, ""), r.on_alert, r.runbook) for r in loaded.experiment.remediation]
    if found:
        return [t for t in found if t[0]]
    return [(slo, generated_alert(slo, "page"), None) for slo in sorted(set(generated.values()))]


def measure_chain(client: PromClient, loaded: LoadedExperiment, plan: Plan, state: RunRecord) -> list[ChainTimes]:
    run_end = max((p.get("end", 0.0) for p in state.phases.values()), default=state.started)
    starts = [f.started for f in state.faults if f.started is not None]
    first_fault = min(starts) if starts else None
    chain = state.remediation
    found = []
    for slo_name, alert, runbook in chain_targets(loaded):
        notes: list[str] = []
        pending, firing = _alert_states(client, alert, state.load_started or state.started, run_end,
                                        plan.scrape_interval_s, notes)
        webhook = next((n.received_at for n in (chain.notifications if chain else [])
                        if any(a.name == alert for a in n.firing())), None)
        outcome = next((o for o in (chain.outcomes if chain else []) if o.trigger == f"alert {alert}"), None)
        watch = chain.alertmanager_watch if chain else None
        seen = watch.first_seen.get(alert) if watch else None
        if watch is not None and watch.failures:
            notes.append(f"{watch.failures} poll(s) of the Alertmanager failed (last: {watch.last_error})")
        slo = loaded.slo(slo_name)
        breach = recovered = budget = None
        if first_fault is not None:
            points = _error_ratios(client, plan, slo_name, first_fault, run_end, notes)
            limit = float(budget_ratio(slo))
            breach = next((t for t, e in points if e > limit), None)
            since = outcome.started if outcome is not None else firing
            recovered = _back_for_good(points, limit, since) if since is not None else None
            budget = _budget(client, plan, slo_name, slo.period, limit, first_fault, recovered or run_end, notes)
        found.append(ChainTimes(slo_name, alert, runbook, first_fault, breach, pending, firing, webhook, seen,
                                outcome, recovered, budget, tuple(notes)))
    return found


def _alert_states(client: PromClient, alert: str, start: float, end: float, step: float,
                  notes: list[str]) -> tuple[float | None, float | None]:
    if end <= start:
        return None, None
    try:
        answer = client.query_range(f'max by (alertstate) (ALERTS{{alertname="{alert}"}})', start, end, step)
    except EvidenceError as err:
        notes.append(f"the ALERTS series of {alert} could not be read: {err}")
        return None, None
    first: dict[str, float] = {}
    for series in answer.matrix:
        state = series.labels.get("alertstate", "")
        times = [t for t, v in series.points if v >= 1]
        if times:
            first[state] = min(times)
    return first.get("pending"), first.get("firing")


def _error_ratios(client: PromClient, plan: Plan, slo: str, start: float, end: float,
                  notes: list[str]) -> list[tuple[float, float]]:
    if end <= start:
        return []
    try:
        answer = client.query_range(burn_query(plan.sli(slo), BREACH_WINDOW_S), start, end, plan.scrape_interval_s)
    except EvidenceError as err:
        notes.append(f"the error ratio of {slo} could not be read: {err}")
        return []
    return sorted((t, v) for series in answer.matrix for t, v in series.points if math.isfinite(v))


def _back_for_good(points: list[tuple[float, float]], limit: float, since: float) -> float | None:
    """The first moment after `since` from which the error ratio stays within the budget to the end."""
    back = None
    for t, error_ratio in points:
        if t < since:
            continue
        healthy = error_ratio <= limit
        back = (back if back is not None else t) if healthy else None
    return back


def _budget(client: PromClient, plan: Plan, slo: str, period_s: float, limit: float, start: float, end: float,
            notes: list[str]) -> float | None:
    """Budget consumed between start and end, time-normalised: burn rate x duration / period."""
    if end - start < plan.scrape_interval_s:
        return None
    try:
        answer = client.query(burn_query(plan.sli(slo), end - start), end)
    except EvidenceError as err:
        notes.append(f"the budget consumed by {slo} could not be read: {err}")
        return None
    values = [s.value for s in answer.vector if math.isfinite(s.value)]
    if len(values) != 1:
        return None
    return values[0] / limit * (end - start) / period_s


def remediated(expect: ExpectRemediated, chains: list[ChainTimes], step: float) -> ExpectationResult:
    """The runbook ran to its end and the SLO is back at its objective within `within` of the alert."""
    within, target = expect.within, expect.remediated
    chain = next((c for c in chains if c.slo == target and c.runbook is not None), None)

    def verdict(v: str, observed: float | None, why: str) -> ExpectationResult:
        return ExpectationResult("remediated", target, within, v, observed, why)  # type: ignore[arg-type]

    if chain is None or chain.first_fault is None:
        return verdict("INCONCLUSIVE", None, "no fault ran, so there was nothing to remediate")
    if chain.fired_before_fault:
        return verdict("INCONCLUSIVE", None, f"alert {chain.alert} fired before the first fault: the system was "
                       "not in a steady state, so this run proves nothing about remediating the fault")
    if chain.runbook_outcome is None:
        fired = "fired but never reached the webhook" if chain.alert_firing else "never fired"
        return verdict("FAIL", None, f"alert {chain.alert} {fired}, so runbook {chain.runbook} never ran")
    if not chain.runbook_outcome.ok:
        return verdict("FAIL", None, f"runbook {chain.runbook_outcome.runbook} failed: {chain.runbook_outcome.reason}")
    origin = chain.alert_firing or chain.webhook
    if chain.recovered is None or origin is None:
        return verdict("FAIL", None, f"runbook {chain.runbook_outcome.runbook} ran, but {target} was not back at "
                       "its objective by the end of the run")
    took = max(0.0, chain.recovered - origin)
    shown = f"{target} back at its objective {took:.1f}s ± {step:g}s after alert {chain.alert} fired"
    if took + step <= within:
        return verdict("PASS", took, f"{shown} (within {within:g}s)")
    if took - step > within:
        return verdict("FAIL", took, f"{shown} (beyond {within:g}s)")
    return verdict("INCONCLUSIVE", took, f"{shown}: cannot tell against within {within:g}s at this scrape interval")
