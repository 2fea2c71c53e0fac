"""What a run records as it goes: real timestamps, faults, load, problems. Renderers read only this."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.judge.slo import SloJudgement
from harness.judge.verdict import Verdict
from harness.run.chain_times import ChainTimes
from harness.run.faultrunner import FaultRecord
from harness.run.remediation import RemediationState


@dataclass(frozen=True)
class ExpectationResult:
    kind: str
    target: str
    within_s: float
    verdict: Verdict
    observed_s: float | None
    reason: str


@dataclass
class RunRecord:
    experiment: str
    run_id: str
    run_dir: Path
    platform: str
    started: float
    ended: float | None = None
    load_started: float | None = None
    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    faults: list[FaultRecord] = field(default_factory=list)
    slos: list[SloJudgement] = field(default_factory=list)
    slo_sources: dict[str, str] = field(default_factory=dict)
    expectations: list[ExpectationResult] = field(default_factory=list)
    load: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Questionable but not wrong (a declared scrape interval Prometheus contradicts): shown, not judged."""
    evidence_problems: list[str] = field(default_factory=list)
    """Problems that keep the whole run from passing (they are also listed in `problems`)."""
    halted: str | None = None
    verdict: Verdict | None = None
    verdict_status: str | None = None
    reason: str = ""
    exit_code: int | None = None
    abort_checks: list[dict[str, Any]] = field(default_factory=list)
    prometheus_url: str | None = None
    scrape_interval_s: float | None = None
    interval_source: str = ""
    remediation: RemediationState | None = None
    """The alert → webhook → runbook chain, when the experiment has alerting or remediation."""
    chain: list[ChainTimes] = field(default_factory=list)
    """Its moments and numbers, measured after the run (see run.remediation_proof)."""
    source: dict[str, Any] = field(default_factory=dict)
    """The experiment file, its fingerprint and the line of each check (see LoadedExperiment.check_lines)."""
    readiness: list[tuple[float, int]] = field(default_factory=list)
    """(time, ready replicas) sampled from the platform during the run where Prometheus has no such series
    (kubernetes: the workload's status)."""
