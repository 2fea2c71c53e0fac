"""The postmortem draft: the contract's sections, filled with the run's numbers and real timestamps."""

from __future__ import annotations

from harness.reports.postmortem import breach, postmortem
from harness.result.series import RunSeries, SliSeries
from tests.reports.results import checkout_result

TIMES = tuple(1000.0 + t for t in range(1, 61))


def _latency_series() -> RunSeries:
    """80 req/s; from 1025 s to 1035 s (the fault) every request is slow; a 5 s trailing window."""
    total = [80.0 * i for i in range(1, 61)]
    bad = [80.0 * max(0, min(t, 1035.0) - 1025.0) for t in TIMES]
    good = tuple(t - b for t, b in zip(total, bad, strict=True))
    latency = SliSeries(slo="latency", objective=0.99, burn_window_s=5.0, time=TIMES, good=good, total=tuple(total),
                        burn_rate=(None,) * 60)
    return RunSeries(step_s=1.0, start=1000.0, end=1060.0, slis=(latency,))


def test_the_breach_and_the_recovery_come_from_the_series() -> None:
    found = breach(_latency_series().slis[0], 1.0, 1025.0, 1035.0)
    assert found.first == 1026.0  # the first second with slow requests in its window
    assert found.recovered == 1040.0  # the 5 s window holds no slow request again
    assert found.below_s == 14.0


def test_every_section_with_numbers_and_timestamps() -> None:
    result = checkout_result(period_s=None)
    draft = postmortem(result, _latency_series(), designed="PASS")
    assert draft.startswith("# Postmortem (draft): checkout, 1970-01-01\n")
    for heading in ("## Summary", "## Impact", "## Detection", "## Resolution", "## Timeline (UTC)", "## Root cause",
                    "## What went well", "## What went wrong", "## Action items (suggested)"):
        assert heading in draft
    assert "- **Status:** DRAFT" in draft and "- **Verdict:** FAIL (designed: PASS)" in draft
    assert "latency: first below objective +1s after (1970-01-01 00:17:06 UTC)" in draft
    assert "latency: back at objective +5s after (1970-01-01 00:17:20 UTC) (time to recover)" in draft
    assert ("**latency**: 14s below objective (SLI over its trailing 5s); 75.000% of 1600 requests failed or "
            "slow") in draft
    assert "- [ ] **mitigate**: latency: phase fault missed its objective under latency" in draft
    assert "Cause: _to be written by the team" in draft
    assert "No alert was expected by the experiment" in draft


def test_without_series_it_says_what_it_cannot_know() -> None:
    draft = postmortem(checkout_result(), None)
    assert "time below objective unknown (no series were captured)" in draft


def test_a_run_stopped_by_hand_suggests_running_it_again_not_fixes() -> None:
    halted = checkout_result(halted="interrupted by SIGTERM", verdict="ABORTED", faults=[])
    draft = postmortem(halted, None, designed="PASS")
    assert "Hypothesis: under its faults (none was injected before the run was halted)" in draft
    assert "the run was halted before it finished (interrupted by SIGTERM)" in draft
    actions = draft.split("## Action items (suggested)")[1]
    assert "run it again to the end" in actions and "mitigate" not in actions and "prevent" not in actions
