"""The moments of one remediation chain, and the times between them (see run.remediation_proof)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.remediation.runbook import RunbookOutcome


@dataclass(frozen=True)
class ChainTimes:
    slo: str
    alert: str
    runbook: str | None
    first_fault: float | None = None
    first_breach: float | None = None
    alert_pending: float | None = None
    alert_firing: float | None = None
    webhook: float | None = None
    alertmanager_seen: float | None = None
    """Platform external: the first poll of the user's Alertmanager that showed the alert active."""
    runbook_outcome: RunbookOutcome | None = None
    recovered: float | None = None
    budget_consumed: float | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def time_to_detect_s(self) -> float | None:
        return _between(self.first_fault, self.alert_firing)

    @property
    def time_to_mitigate_s(self) -> float | None:
        ended = self.runbook_outcome.ended if self.runbook_outcome and self.runbook_outcome.ok else None
        return _between(self.alert_firing, ended)

    @property
    def time_to_recover_s(self) -> float | None:
        return _between(self.alert_firing, self.recovered)

    @property
    def fired_before_fault(self) -> bool:
        first = [t for t in (self.alert_firing, self.webhook) if t is not None]
        return bool(first) and self.first_fault is not None and min(first) < self.first_fault


def _between(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else max(0.0, end - start)
