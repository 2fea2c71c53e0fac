"""Judging (pure): evidence in, verdicts out, each with its reason and the numbers behind it."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import NormalDist
from typing import Any

from harness.evidence.outages import DECLARED_DOWN
from harness.evidence.phase import ClientCounts, PhaseEvidence
from harness.judge.stats import RatioDecision, decide_error_ratio
from harness.judge.verdict import Verdict, combine
from harness.load.shortfall import Shortfall, explain_shortfall
from harness.spec.models import EvidencePolicy, Hypothesis, InlineSLO


@dataclass(frozen=True)
class PhaseJudgement:
    phase: str
    start: float
    end: float
    good: float | None
    bad: float | None
    total: float | None
    sli: float | None
    burn_rate: float | None
    budget_consumed: float | None
    error_interval: tuple[float, float] | None
    verdict: Verdict
    reason: str
    judged: bool
    method: str
    notes: tuple[str, ...] = ()
    client: ClientCounts | None = None
    client_server_difference: float | None = None
    queries: Mapping[str, str] = field(default_factory=dict)
    born_in_window: tuple[Mapping[str, str], ...] = ()
    quantiles: Mapping[str, float | None] = field(default_factory=dict)
    missing_events: float = 0.0
    scrape_interval_s: float = 0.0


@dataclass(frozen=True)
class SloJudgement:
    name: str
    objective: Decimal
    period_s: float
    verdict: Verdict
    reason: str
    phases: tuple[PhaseJudgement, ...]
    budget_consumed: float | None
    budget_consumed_events: float | None
    max_budget_consumed: float | None
    max_burn_rate: float | None
    peak_burn_rate: float | None
    checks: tuple[tuple[str, Verdict, str], ...] = ()


def budget_ratio(slo: InlineSLO) -> Decimal:
    """B = 1 - T, exact: 1 - 0.999 in floats is 0.0010000000000000009."""
    return (Decimal(100) - slo.objective) / Decimal(100)


def z_for(confidence_percent: Decimal) -> float:
    return NormalDist().inv_cdf(1 - (1 - float(confidence_percent) / 100) / 2)


def _counts(evidence: PhaseEvidence) -> tuple[float | None, float | None, list[str]]:
    """(bad, total) from the evidence, or None with the reasons the numbers cannot be used."""
    problems = [f"total: {p}" for p in evidence.total.problems]
    if evidence.total.value is None and evidence.good is None and evidence.bad is None:
        return None, None, [*evidence.total.problems] or ["no data for total"]
    side = evidence.bad if evidence.bad is not None else evidence.good
    side_name = "bad" if evidence.bad is not None else "good"
    if side is None:
        return None, None, ["no good or bad counter"]
    problems += [f"{side_name}: {p}" for p in side.problems]
    total = evidence.total.value
    value = side.value
    if total is None or value is None:
        problems.append("no data for " + ("total" if total is None else side_name))
        return None, None, problems
    for name, number in (("total", total), (side_name, value)):
        if not math.isfinite(number):
            problems.append(f"{name} is {number}")
    if problems:
        return None, None, problems
    bad = value if evidence.bad is not None else total - value
    if bad < -1e-9 or bad > total + 1e-9:
        return None, None, [f"{side_name} ({value:g}) does not fit total ({total:g})"]
    return max(0.0, bad), total, []


def judge_phase(evidence: PhaseEvidence, slo: InlineSLO, policy: EvidencePolicy, judged: bool) -> PhaseJudgement:
    budget = budget_ratio(slo)
    bad, total, problems = _counts(evidence)
    length = evidence.end - evidence.start
    base: dict[str, Any] = dict(phase=evidence.phase, start=evidence.start, end=evidence.end, judged=judged,
                method=evidence.total.method, client=evidence.client, queries=evidence.queries,
                born_in_window=_born(evidence), quantiles=evidence.quantiles,
                missing_events=evidence.missing_events, scrape_interval_s=evidence.scrape_interval_s)
    if bad is None or total is None:
        return PhaseJudgement(good=None, bad=None, total=None, sli=None, burn_rate=None, budget_consumed=None,
                              error_interval=None, verdict="INCONCLUSIVE", reason="; ".join(problems), **base)
    burn = (bad / total) / float(budget) if total > 0 else None
    consumed = burn * length / slo.period if burn is not None else None
    z = z_for(policy.confidence)
    decision = decide_error_ratio(bad, total, budget, policy.min_events, z)
    verdict: Verdict = decision.verdict
    reasons = [decision.reason]
    notes = [*_notes(evidence, total, bad), *evidence.telemetry_notes, *shortfall_note(evidence.client, policy)]
    if evidence.missing_events > 0:
        verdict, reasons, robust_note = _robust_to_missing(evidence, decision, bad, total, budget, policy, z)
        notes += robust_note
    if verdict != "FAIL":
        contradiction = _contradiction(evidence, bad, total, budget, policy, z)
        blockers = [*evidence.telemetry_problems, *_load_shortfall(evidence.client, policy),
                    *([contradiction] if contradiction else [])]
        if blockers:
            verdict, reasons = "INCONCLUSIVE", [*blockers, *reasons]
    # A client SLI is the load's own count: there is no server side to compare it with.
    difference = _client_difference(evidence.client, total) if evidence.kind != "client" else None
    if difference is not None and abs(difference) > _allowed_difference(evidence, policy):
        notes.append(f"client and server disagree: Locust counted {evidence.client.requests if evidence.client else 0}"
                     f" requests, Prometheus {total:.0f} ({difference:+.2%})")
    return PhaseJudgement(good=total - bad, bad=bad, total=total, sli=(total - bad) / total if total else None,
                          burn_rate=burn, budget_consumed=consumed, error_interval=(decision.low, decision.high),
                          verdict=verdict, reason="; ".join(reasons), notes=tuple(notes),
                          client_server_difference=difference, **base)


def _robust_to_missing(evidence: PhaseEvidence, decision: RatioDecision, bad: float, total: float, budget: Decimal,
                       policy: EvidencePolicy, z: float) -> tuple[Verdict, list[str], list[str]]:
    """Keep a verdict only when no placement of the possibly missing events could change it.

    The worst case for a PASS is every missing event bad; the best case for a FAIL is every one good.
    """
    missing = evidence.missing_events
    why = "; ".join(evidence.missing_reasons)
    worst = decide_error_ratio(bad + missing, total + missing, budget, policy.min_events, z)
    best = decide_error_ratio(bad, total + missing, budget, policy.min_events, z)
    if decision.verdict == "PASS" and worst.verdict != "PASS":
        could = "FAIL" if worst.verdict == "FAIL" else "undecided"
    elif decision.verdict == "FAIL" and best.verdict != "FAIL":
        could = "PASS" if best.verdict == "PASS" else "undecided"
    else:
        return decision.verdict, [decision.reason], [f"up to {missing:.0f} events may be missing and cannot change "
                                                     f"the verdict: {why}"]
    return "INCONCLUSIVE", [f"{why}; with up to {missing:.0f} missing events the phase could be {could}: "
                            f"{decision.reason}; measure the SLI where no fault takes its targets down (the edge)"
                            + ("" if DECLARED_DOWN in why else ", or declare the fault's expect_down")], []


def _contradiction(evidence: PhaseEvidence, bad: float, total: float, budget: Decimal, policy: EvidencePolicy,
                   z: float) -> str | None:
    """Failures the load saw that the SLI's bad events do not account for, when they would change a PASS.

    Only for ratio SLIs whose total covers the load's requests (a per-route SLI counts other traffic),
    and beyond the failures that the scrape-aligned window edges can shift (two intervals' worth).
    """
    client = evidence.client
    if evidence.kind != "ratio" or client is None or not client.requests or not client.failures:
        return None
    allowed = _allowed_difference(evidence, policy) * client.requests
    unseen = client.failures - bad  # failed requests the server may never have counted at all
    if min(abs(total - client.requests), abs(total + unseen - client.requests)) > allowed:
        return None
    length = evidence.end - evidence.start
    slack = client.failures * min(1.0, 2 * evidence.scrape_interval_s / length) if length > 0 else client.failures
    unaccounted = client.failures - bad - slack
    if unaccounted <= 0:
        return None
    seen = decide_error_ratio(bad + unaccounted, max(total, float(client.requests)), budget, policy.min_events, z)
    if seen.verdict == "PASS":
        return None
    return (f"contradicting evidence: the load saw {client.failures} of {client.requests} requests fail, but the SLI "
            f"counts {bad:.0f} bad of {total:.0f}: its bad selector may not match these errors (check its label "
            "values), or they failed before the server counted them (a killed process: measure at the edge)")


def _born(evidence: PhaseEvidence) -> tuple[Mapping[str, str], ...]:
    counts = [c for c in (evidence.total, evidence.good, evidence.bad) if c is not None]
    # A series born in the window usually matches both total and bad (or good): list it once.
    unique = {tuple(sorted(labels.items())): labels for count in counts for labels in count.born_in_window}
    return tuple(unique.values())


def _notes(evidence: PhaseEvidence, total: float, bad: float) -> list[str]:
    notes = []
    resets = sum(c.resets for c in (evidence.total, evidence.good, evidence.bad) if c is not None)
    if resets:
        notes.append(f"{resets} counter reset(s) in the window, counted exactly")
    born = _born(evidence)
    if born:
        notes.append(f"{len(born)} series born inside the window")
    return notes


def _shortfall(client: ClientCounts | None, policy: EvidencePolicy) -> Shortfall | None:
    if client is None:
        return None
    return explain_shortfall(client.achieved_rps, client.requested_rps, client.mean_response_s, client.mean_users,
                             client.throughput_per_user, policy.min_achieved_rps_ratio,
                             workers_lost=client.workers_lost)


def _load_shortfall(client: ClientCounts | None, policy: EvidencePolicy) -> list[str]:
    """A load shortfall makes the evidence unusable only when the generator could not keep up: a slow
    system lowers a closed model's rate by itself (coordinated omission), and is judged as it was."""
    shortfall = _shortfall(client, policy)
    if client is None or client.requested_rps is None or shortfall is None or shortfall.kind != "generator":
        return []
    ratio = client.achieved_rps / client.requested_rps
    return [f"load reached {client.achieved_rps:.1f} req/s of the {client.requested_rps:.1f} requested "
            f"({ratio:.1%} < min_achieved_rps_ratio {policy.min_achieved_rps_ratio:.0%}): {shortfall.reason}"]


def shortfall_note(client: ClientCounts | None, policy: EvidencePolicy) -> list[str]:
    shortfall = _shortfall(client, policy)
    return [shortfall.reason] if shortfall is not None and shortfall.kind == "system" else []


def _allowed_difference(evidence: PhaseEvidence, policy: EvidencePolicy) -> float:
    """The tolerance, or one scrape interval of traffic when larger: the server's window runs between the
    last scrapes at or before each edge, so its edges shift by up to a scrape from the client's."""
    tolerance = float(policy.client_server_tolerance) / 100
    client = evidence.client
    if client is None or not client.requests:
        return tolerance
    return max(tolerance, client.achieved_rps * evidence.scrape_interval_s / client.requests)


def _client_difference(client: ClientCounts | None, total: float) -> float | None:
    if client is None or client.requests == 0:
        return None
    return (total - client.requests) / client.requests


def judge_slo(
    slo: InlineSLO,
    hypothesis: Hypothesis,
    evidence: Sequence[PhaseEvidence],
    policy: EvidencePolicy,
    peak_burn_rate: float | None = None,
) -> SloJudgement:
    """Phase verdicts, then the run-wide budget and burn-rate checks of the hypothesis."""
    judged_names = set(hypothesis.judged_phases)
    phases = tuple(judge_phase(e, slo, policy, e.phase in judged_names) for e in evidence)
    judged = [p for p in phases if p.judged]
    checks: list[tuple[str, Verdict, str]] = [(f"phase {p.phase}", p.verdict, p.reason) for p in judged]
    spending = [p for p in phases if p.phase != "warmup"]
    consumed: float | None = None
    spent = sum(p.budget_consumed or 0.0 for p in spending)
    complete = bool(spending) and all(p.burn_rate is not None for p in spending)
    if complete:
        consumed = spent
    events_consumed = None
    if hypothesis.period_events is not None and spending and all(p.bad is not None for p in spending):
        bad_total = sum(p.bad or 0.0 for p in spending)
        events_consumed = bad_total / (float(budget_ratio(slo)) * hypothesis.period_events)
    limit = float(hypothesis.max_budget_consumed) / 100 if hypothesis.max_budget_consumed is not None else None
    if limit is not None:
        checks.append(_limit_check("budget consumed", spent, limit, _budget_share, complete))
    burns = [p.burn_rate for p in spending if p.burn_rate is not None]
    peak = max([*burns, *([peak_burn_rate] if peak_burn_rate is not None else [])], default=None)
    if hypothesis.max_burn_rate is not None:
        checks.append(_limit_check("burn rate", peak, hypothesis.max_burn_rate, "{:.2f}".format, complete))
    verdict = combine(c[1] for c in checks)
    reason = "; ".join(f"{name}: {why}" for name, v, why in checks if v == verdict) if verdict != "PASS" else \
        "every judged phase and limit held"
    return SloJudgement(slo.name, slo.objective, slo.period, verdict, reason, phases, consumed, events_consumed,
                        limit, hypothesis.max_burn_rate, peak, tuple(checks))


def _budget_share(value: float) -> str:
    """Four decimals of a percent, or the significant digits of a share too small for them (never 0.0000%)."""
    if 0 < abs(value) * 100 < 1e-4:
        return f"{value * 100:.2g}%"
    return f"{value:.4%}"


def _limit_check(name: str, value: float | None, limit: float, fmt: Callable[[float], str],
                 complete: bool) -> tuple[str, Verdict, str]:
    """A run-wide limit. Phases without usable counts leave it unknown, unless the phases that do have
    counts already exceed it (spent budget only grows, a peak only rises): then it failed regardless."""
    if value is None or (not complete and value <= limit):
        return name, "INCONCLUSIVE", f"{name} unknown: no usable counts for every phase"
    shown = fmt(value)
    if value > limit:
        at_least = "" if complete else "at least "
        return name, "FAIL", f"{name} {at_least}{shown} exceeds the limit {fmt(limit)}"
    return name, "PASS", f"{name} {shown} within the limit {fmt(limit)}"
