"""A RunResult from what a run recorded (RunRecord): the spec's fields plus the evidence behind every number."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from harness.judge.slo import PhaseJudgement, SloJudgement
from harness.result.files import write_run_result
from harness.result.model import RunResult, TimelineEvent
from harness.run.chain_result import chain_events, chain_fields
from harness.run.faultrunner import FaultRecord
from harness.run.record import ExpectationResult, RunRecord


def _num(value: float | None, digits: int = 6) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def _phase(p: PhaseJudgement) -> dict[str, Any]:
    return {
        "start": p.start, "end": p.end, "judged": p.judged,
        "good": _num(p.good, 3), "bad": _num(p.bad, 3), "total": _num(p.total, 3), "sli": _num(p.sli),
        "verdict": p.verdict, "reason": p.reason,
        "burn_rate": _num(p.burn_rate, 4), "budget_consumed": _num(p.budget_consumed, 8),
        "error_ratio_interval": [_num(x, 8) for x in p.error_interval] if p.error_interval else None,
        "method": p.method, "notes": list(p.notes),
        "born_in_window": [dict(labels) for labels in p.born_in_window],
        "client": None if p.client is None else {
            "requests": p.client.requests, "failures": p.client.failures,
            "achieved_rps": _num(p.client.achieved_rps, 2), "requested_rps": _num(p.client.requested_rps, 2)},
        "client_server_difference": _num(p.client_server_difference, 5),
        "queries": dict(p.queries),
        "latency_quantiles_s": {k: _num(v, 4) for k, v in p.quantiles.items()} or None,
        "missing_events_bound": _num(p.missing_events, 3),
        "scrape_interval_s": _num(p.scrape_interval_s, 3),
    }


def _slo(s: SloJudgement, source: str | None) -> dict[str, Any]:
    return {
        "name": s.name, "objective": float(s.objective), "period_s": s.period_s, "source": source,
        "verdict": s.verdict, "reason": s.reason,
        "budget_consumed": _num(s.budget_consumed, 8),
        "budget_consumed_events": _num(s.budget_consumed_events, 8),
        "max_budget_consumed": _num(s.max_budget_consumed, 8),
        "peak_burn_rate": _num(s.peak_burn_rate, 4), "max_burn_rate": s.max_burn_rate,
        "checks": [{"check": name, "verdict": verdict, "reason": why} for name, verdict, why in s.checks],
        "phases": {p.phase: _phase(p) for p in s.phases},
    }


def _fault(f: FaultRecord) -> dict[str, Any]:
    return {
        "name": f.name, "type": f.type, "targets": list(f.targets),
        "planned": {"start": f.planned_start, "end": f.planned_end},
        "started": f.started, "ended": f.ended, "reverted": f.reverted,
        "took_effect": None if f.check is None else f.check.took_effect,
        "observed": None if f.check is None else f.check.observed,
        "error": f.error, "revert_error": f.revert_error,
        "details": {k: v for k, v in f.details.items() if k != "counters_before"},
    }


def _expectation(e: ExpectationResult) -> dict[str, Any]:
    return {"kind": e.kind, "target": e.target, "within": f"{e.within_s:g}s", "verdict": e.verdict,
            "observed": None if e.observed_s is None else f"{e.observed_s:.1f}s",
            "observed_s": _num(e.observed_s, 3), "reason": e.reason}


def run_result(state: RunRecord) -> RunResult:
    return RunResult.model_validate({
        "experiment": state.experiment,
        "run_id": state.run_id,
        "run_dir": str(state.run_dir),
        "verdict": state.verdict,
        "exit_code": state.exit_code,
        "reason": state.reason,
        "status": state.verdict_status,
        "platform": state.platform,
        "started": state.started,
        "ended": state.ended,
        "halted": state.halted,
        "phases": state.phases,
        "slos": [_slo(s, state.slo_sources.get(s.name)) for s in state.slos],
        "faults": [_fault(f) for f in state.faults],
        "expectations": [_expectation(e) for e in state.expectations],
        "load": state.load,
        "abort_checks": state.abort_checks,
        "problems": state.problems,
        "warnings": state.warnings,
        "scrape_interval": {"seconds": state.scrape_interval_s, "source": state.interval_source},
        "events": [event.model_dump() for event in timeline(state)],
        **chain_fields(state),
        **({"source": state.source} if state.source else {}),
    })


def timeline(state: RunRecord) -> list[TimelineEvent]:
    """Phases, faults, abort breaches and the end of the run, in time order."""
    events: list[TimelineEvent] = []
    for name, window in state.phases.items():
        if "start" in window:
            events.append(TimelineEvent(time=window["start"], kind="phase-started", name=name))
        if "end" in window:
            events.append(TimelineEvent(time=window["end"], kind="phase-ended", name=name))
    for fault in state.faults:
        if fault.started is not None:
            targets = ", ".join(fault.targets) or "nothing"
            events.append(TimelineEvent(time=fault.started, kind="fault-injected", name=fault.name,
                                        detail=f"{fault.type} on {targets}"))
        elif fault.error:
            events.append(TimelineEvent(time=state.started, kind="fault-failed", name=fault.name,
                                        detail=fault.error))
        if fault.ended is not None and fault.reverted is not None:
            kind = "fault-reverted" if fault.reverted else "revert-failed"
            events.append(TimelineEvent(time=fault.ended, kind=kind, name=fault.name,
                                        detail=fault.revert_error or ""))
    for check in state.abort_checks:
        if check.get("breach"):
            events.append(TimelineEvent(time=float(check["time"]), kind="abort-breach", name=str(check.get("slo")),
                                        detail=f"burn rate {check.get('burn_rate')}"))
    events += chain_events(state)
    if state.ended is not None:
        if state.halted:
            events.append(TimelineEvent(time=state.ended, kind="halted", detail=state.halted))
        events.append(TimelineEvent(time=state.ended, kind="run-ended", detail=str(state.verdict or "")))
    return sorted(events, key=lambda event: event.time)


def write_result(state: RunRecord) -> Path:
    """Write the run's result.json atomically, so a reader never sees half a file."""
    return write_run_result(run_result(state), state.run_dir)
