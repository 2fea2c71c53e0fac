"""The run result as a typed, versioned model: what `result.json` is written from and read back into.

Every field the file format spec names keeps its name and meaning; the rest is the evidence behind
each number. Readers (the CLI summary, reports, gates) use these models, never the file's raw keys.
Unknown fields are kept (a newer harness may add some), and a file without `apiVersion` (written
before the result was versioned) reads as the current version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.judge.verdict import Verdict

RESULT_API_VERSION = "harness/v1"


class ResultPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


class Window(ResultPart):
    """A phase's real start and end (unix seconds); a phase never reached has neither."""

    start: float | None = None
    end: float | None = None


class ClientCounts(ResultPart):
    requests: int
    failures: int
    achieved_rps: float | None = None
    requested_rps: float | None = None


class PhaseResult(ResultPart):
    """One SLO over one phase: the exact counts, the decision and how it was reached. Beyond the spec's
    fields (counts, sli, verdict, reason) everything has a default, so a minimal file reads too."""

    start: float | None = None
    end: float | None = None
    judged: bool = True
    good: float | None = None
    bad: float | None = None
    total: float | None = None
    sli: float | None = None
    verdict: Verdict
    reason: str = ""
    burn_rate: float | None = None
    budget_consumed: float | None = None
    error_ratio_interval: tuple[float | None, float | None] | None = None
    method: str = ""
    notes: tuple[str, ...] = ()
    born_in_window: tuple[Mapping[str, str], ...] = ()
    client: ClientCounts | None = None
    client_server_difference: float | None = None
    queries: Mapping[str, str] = Field(default_factory=dict)
    latency_quantiles_s: Mapping[str, float | None] | None = None
    missing_events_bound: float | None = None
    scrape_interval_s: float | None = None


class SloCheck(ResultPart):
    check: str
    verdict: Verdict
    reason: str


class SloResult(ResultPart):
    name: str
    objective: float
    period_s: float | None = None
    source: str | None = None
    verdict: Verdict
    reason: str = ""
    budget_consumed: float | None = None
    budget_consumed_events: float | None = None
    max_budget_consumed: float | None = None
    peak_burn_rate: float | None = None
    max_burn_rate: float | None = None
    checks: tuple[SloCheck, ...] = ()
    phases: Mapping[str, PhaseResult] = Field(default_factory=dict)

    def phase(self, name: str) -> PhaseResult:
        if name not in self.phases:
            raise KeyError(f"SLO {self.name!r} has no phase {name!r}; it has {', '.join(self.phases) or 'none'}")
        return self.phases[name]

    @property
    def judged_phases(self) -> dict[str, PhaseResult]:
        return {name: phase for name, phase in self.phases.items() if phase.judged}


class PlannedWindow(ResultPart):
    """Offsets (seconds) from the start of the load, as planned."""

    start: float
    end: float


class FaultResult(ResultPart):
    name: str
    type: str
    targets: tuple[str, ...] = ()
    planned: PlannedWindow | None = None
    started: float | None = None
    ended: float | None = None
    reverted: bool | None = None
    """True: reverted; False: the revert failed (roll back by hand); None: nothing to revert."""
    took_effect: bool | None = None
    observed: str | None = None
    error: str | None = None
    revert_error: str | None = None
    details: Mapping[str, Any] = Field(default_factory=dict)


class ExpectationResult(ResultPart):
    kind: str
    target: str
    within: str | None = None
    verdict: Verdict
    observed: str | None = None
    observed_s: float | None = None
    reason: str = ""


class LoadCounts(ResultPart):
    """What the load generator counted over a window (requests started in it)."""

    requests: int | None = None
    failures: int | None = None
    achieved_rps: float | None = None
    requested_rps: float | None = None
    mean_response_s: float | None = None
    mean_users: float | None = None
    throughput_per_user: float | None = None


class LoadResult(LoadCounts):
    phases: Mapping[str, LoadCounts] = Field(default_factory=dict)
    log: str | None = None


class AbortCheck(ResultPart):
    time: float
    slo: str | None = None
    burn_rate: float | None = None
    breach: bool = False
    unknown: tuple[str, ...] = ()


class ScrapeInterval(ResultPart):
    seconds: float | None = None
    source: str = ""


EventKind = Literal["phase-started", "phase-ended", "fault-injected", "fault-failed", "fault-reverted",
                    "revert-failed", "abort-breach", "halted", "run-ended",
                    # the remediation chain
                    "slo-breached", "alert-pending", "alert-firing", "webhook-received", "runbook-started",
                    "runbook-step", "runbook-ended", "slo-recovered", "alertmanager-active"]


class TimelineEvent(ResultPart):
    """One moment of the run, in order: what happened when, for reports and post-mortems."""

    time: float
    kind: EventKind
    name: str = ""
    detail: str = ""


class RunbookStepResult(ResultPart):
    name: str
    kind: str
    started: float
    ended: float
    result: str
    """ok, failed, timed out or cancelled."""
    detail: str = ""


class RunbookResult(ResultPart):
    runbook: str
    trigger: str
    started: float
    ended: float
    ok: bool
    reason: str = ""
    steps: tuple[RunbookStepResult, ...] = ()


class RemediationResult(ResultPart):
    """One remediation chain with real timestamps (unix seconds) and the times between them."""

    slo: str
    alert: str
    runbook: str | None = None
    first_fault: float | None = None
    first_breach: float | None = None
    alert_pending: float | None = None
    alert_firing: float | None = None
    webhook_received: float | None = None
    alertmanager_seen: float | None = None
    """Platform external: when the user's Alertmanager first showed the alert active (polled every second)."""
    recovered: float | None = None
    time_to_detect_s: float | None = None
    """Alert firing - first fault start."""
    time_to_mitigate_s: float | None = None
    """Runbook finished (all steps ok) - alert firing."""
    time_to_recover_s: float | None = None
    """SLO back at its objective for good - alert firing."""
    budget_consumed: float | None = None
    """Of the SLO's period budget, from the first fault until the recovery (or the run's end)."""
    runbook_run: RunbookResult | None = None
    notes: tuple[str, ...] = ()


class AlertingResult(ResultPart):
    rule_files: tuple[str, ...] = ()
    notifications: int = 0
    """Webhook calls accepted from Alertmanager."""
    rejected_requests: int = 0
    """Webhook calls refused for want of the run's token."""
    ignored_alerts: tuple[str, ...] = ()
    """Firing alerts with no remediation entry: recorded, nothing run."""


class SourceRef(ResultPart):
    """Where the experiment came from: what gates and reports point at, and what history compares by."""

    file: str
    fingerprint: str | None = None
    """Hash of the experiment, its load profile and SLO files: runs with the same one are comparable."""
    lines: Mapping[str, int] = Field(default_factory=dict)
    """The line of each check in the file (`hypothesis.<slo>`, `hypothesis.<slo>.max_burn_rate`, `expect[0]`...)."""


class RunResult(ResultPart):
    """A whole run. `verdict` is None only in a result written before the run concluded."""

    api_version: str = Field(default=RESULT_API_VERSION, alias="apiVersion")
    kind: Literal["RunResult"] = "RunResult"
    experiment: str
    run_id: str
    run_dir: str | None = None
    """The folder the run wrote (result.json, rollback.jsonl, load/, platform/) when it ran."""
    verdict: Verdict | None = None
    exit_code: int | None = None
    reason: str = ""
    status: str | None = None
    platform: str | None = None
    started: float | None = None
    ended: float | None = None
    halted: str | None = None
    phases: Mapping[str, Window] = Field(default_factory=dict)
    slos: tuple[SloResult, ...] = ()
    faults: tuple[FaultResult, ...] = ()
    expectations: tuple[ExpectationResult, ...] = ()
    load: LoadResult = Field(default_factory=LoadResult)
    abort_checks: tuple[AbortCheck, ...] = ()
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    scrape_interval: ScrapeInterval = Field(default_factory=ScrapeInterval)
    events: tuple[TimelineEvent, ...] = ()
    alerting: AlertingResult | None = None
    remediation: tuple[RemediationResult, ...] = ()
    source: SourceRef | None = None

    def slo(self, name: str) -> SloResult:
        for slo in self.slos:
            if slo.name == name:
                return slo
        raise KeyError(f"no SLO named {name!r} in the result of {self.run_id}")

    def fault(self, name: str) -> FaultResult:
        for fault in self.faults:
            if fault.name == name:
                return fault
        raise KeyError(f"no fault named {name!r} in the result of {self.run_id}")

    def document(self) -> dict[str, Any]:
        """The JSON document of result.json: the fields that were given (a run that never started its load
        has `"load": {}`, as before the result was typed), always led by apiVersion and kind."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return {"apiVersion": self.api_version, "kind": self.kind, **data}
