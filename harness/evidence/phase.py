"""What was measured for one SLO over one phase: the input of judging."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.evidence.counting import Count


@dataclass(frozen=True)
class ClientCounts:
    """Locust's own counts for one window (the client side of the truth)."""

    requests: int
    failures: int
    achieved_rps: float
    requested_rps: float | None
    mean_response_s: float | None = None
    mean_users: float | None = None
    throughput_per_user: float | None = None
    workers_lost: tuple[str, ...] = ()
    """Distributed load: the workers lost in or just after this window, each said in a sentence."""


@dataclass(frozen=True)
class PhaseEvidence:
    """What was measured for one SLO over one phase's exact window."""

    phase: str
    start: float
    end: float
    total: Count
    good: Count | None = None
    bad: Count | None = None
    telemetry_problems: tuple[str, ...] = ()
    client: ClientCounts | None = None
    queries: Mapping[str, str] = field(default_factory=dict)
    quantiles: Mapping[str, float | None] = field(default_factory=dict)
    scrape_interval_s: float = 0.0
    missing_events: float = 0.0
    """At most this many events may be missing from the counts (outages of the SLI's own targets)."""
    missing_reasons: tuple[str, ...] = ()
    telemetry_notes: tuple[str, ...] = ()
    kind: str = "ratio"
