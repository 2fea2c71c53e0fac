"""The remediation chain in result.json: its record, its numbers and its timeline events."""

from __future__ import annotations

from typing import Any

from harness.remediation.runbook import RunbookOutcome
from harness.result.model import TimelineEvent
from harness.run.chain_times import ChainTimes
from harness.run.record import RunRecord


def _runbook(outcome: RunbookOutcome) -> dict[str, Any]:
    return {"runbook": outcome.runbook, "trigger": outcome.trigger, "started": outcome.started,
            "ended": outcome.ended, "ok": outcome.ok, "reason": outcome.reason,
            "steps": [{"name": s.name, "kind": s.kind, "started": s.started, "ended": s.ended, "result": s.result,
                       "detail": s.detail} for s in outcome.steps]}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def chain_fields(state: RunRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    chain = state.remediation
    if chain is not None and (chain.rule_files or chain.notifications or chain.rejected or chain.started):
        fields["alerting"] = {"rule_files": [str(p) for p in chain.rule_files],
                              "notifications": len(chain.notifications), "rejected_requests": chain.rejected,
                              "ignored_alerts": sorted({name for _, name in chain.ignored})}
    if state.chain:
        fields["remediation"] = [_chain(c) for c in state.chain]
    return fields


def _chain(c: ChainTimes) -> dict[str, Any]:
    return {
        "slo": c.slo, "alert": c.alert, "runbook": c.runbook, "first_fault": c.first_fault,
        "first_breach": c.first_breach, "alert_pending": c.alert_pending, "alert_firing": c.alert_firing,
        "webhook_received": c.webhook, "alertmanager_seen": c.alertmanager_seen, "recovered": c.recovered,
        "time_to_detect_s": _rounded(c.time_to_detect_s), "time_to_mitigate_s": _rounded(c.time_to_mitigate_s),
        "time_to_recover_s": _rounded(c.time_to_recover_s),
        "budget_consumed": None if c.budget_consumed is None else round(c.budget_consumed, 10),
        "runbook_run": None if c.runbook_outcome is None else _runbook(c.runbook_outcome),
        "notes": list(c.notes),
    }


def chain_events(state: RunRecord) -> list[TimelineEvent]:
    events: list[TimelineEvent] = []
    for c in state.chain:
        for time, kind, detail in ((c.first_breach, "slo-breached", "trailing error ratio over the budget"),
                                   (c.alert_pending, "alert-pending", c.alert), (c.alert_firing, "alert-firing",
                                                                                  c.alert),
                                   (c.webhook, "webhook-received", f"alert {c.alert}"),
                                   (c.alertmanager_seen, "alertmanager-active", f"alert {c.alert}"),
                                   (c.recovered, "slo-recovered", "back at its objective")):
            if time is not None:
                name = c.slo if kind in ("slo-breached", "slo-recovered") else c.alert
                events.append(TimelineEvent(time=time, kind=kind, name=name, detail=detail))
        outcome = c.runbook_outcome
        if outcome is None:
            continue
        events.append(TimelineEvent(time=outcome.started, kind="runbook-started", name=outcome.runbook,
                                    detail=outcome.trigger))
        events += [TimelineEvent(time=s.ended, kind="runbook-step", name=s.name,
                                 detail=f"{s.kind}: {s.result} after {s.ended - s.started:.1f}s"
                                        + (f" ({s.detail})" if s.detail else ""))
                   for s in outcome.steps]
        events.append(TimelineEvent(time=outcome.ended, kind="runbook-ended", name=outcome.runbook,
                                    detail="ok" if outcome.ok else f"FAILED: {outcome.reason}"))
    return events
