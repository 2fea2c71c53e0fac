"""A postmortem draft (Markdown) for a run that missed its design, in the shape SRE teams use: filled
with the run's real numbers and timestamps, the cause itself left for people to write.

Times below objective, the first breach and the recovery come from the captured series (the SLI over
its trailing window, as the report plots it); without series those lines say so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from harness.reports.checks import Check, run_checks, stopped_by_hand
from harness.reports.figures import pct
from harness.result.model import RunResult, SloResult
from harness.result.series import RunSeries, SliSeries


@dataclass(frozen=True)
class Breach:
    """When an SLO's trailing SLI was below its objective, from the series."""

    below_s: float
    first: float | None
    """The first time below objective at or after the first fault started (None: never)."""
    recovered: float | None
    """The first time back at objective after the last fault ended, once it had breached."""


def breach(sli: SliSeries, step_s: float, fault_start: float | None, fault_end: float | None) -> Breach:
    values = sli.trailing_sli(step_s)
    below = [t for t, v in zip(sli.time, values, strict=True) if v is not None and v < sli.objective]
    first = next((t for t in below if fault_start is None or t >= fault_start), None)
    recovered = None
    if first is not None and fault_end is not None:
        recovered = next((t for t, v in zip(sli.time, values, strict=True)
                          if t >= max(fault_end, first) and v is not None and v >= sli.objective), None)
    return Breach(len(below) * step_s, first, recovered)


def postmortem(result: RunResult, series: RunSeries | None, designed: str | None = None) -> str:
    faults = [f for f in result.faults if f.started is not None]
    fault_start = min((f.started for f in faults if f.started is not None), default=None)
    fault_end = max((f.ended or f.started or 0.0 for f in faults), default=None)
    breaches = {s.slo: breach(s, series.step_s, fault_start, fault_end) for s in series.slis} if series else {}
    checks = run_checks(result)
    sections = [
        _head(result, designed), _summary(result, designed, checks), _impact(result, breaches, series),
        _detection(result, breaches, fault_start), _resolution(result, breaches, fault_end),
        _timeline(result), _root_cause(result, checks), _went(checks), _actions(result, checks),
    ]
    return "\n".join(sections).rstrip() + "\n"


def _head(result: RunResult, designed: str | None) -> str:
    day = _utc(result.started, "%Y-%m-%d")
    return (f"# Postmortem (draft): {result.experiment}, {day}\n\n"
            f"- **Date:** {_utc(result.started)} to {_utc(result.ended)}\n- **Status:** DRAFT\n"
            f"- **Run:** `{result.run_id}`" + (f" (`{result.run_dir}`)" if result.run_dir else "") + "\n"
            f"- **Verdict:** {result.verdict}" + (f" (designed: {designed})" if designed else "") + "\n")


def _summary(result: RunResult, designed: str | None, checks: Sequence[Check]) -> str:
    promises = "; ".join(_promise(slo) for slo in result.slos) or "no SLO hypothesis"
    failing = [c for c in checks if c.verdict != "PASS"]
    if stopped_by_hand(result):
        happened = (f"the run was halted before it finished ({result.halted}); its checks judge only what ran, and "
                    "a check of a phase that never ran says so.")
    elif failing:
        happened = f"{failing[0].name} did not hold: {failing[0].reason}."
    elif designed and designed != "PASS":
        happened = f"every check held, where the experiment was designed to end {designed}."
    else:
        happened = result.reason or "every check held."
    injected = [f for f in result.faults if f.started is not None]
    faults = ", ".join(f"{f.name} ({f.type})" for f in injected) or (
        "its faults (none was injected before the run was halted)" if stopped_by_hand(result) else "no fault")
    return (f"## Summary\n\nHypothesis: under {faults}, {promises}.\n\n"
            f"Verdict: **{result.verdict}**. {happened}\n")


def _promise(slo: SloResult) -> str:
    phases = ", ".join(slo.judged_phases)
    return f"{slo.name} stays at or above {slo.objective:g}% in {phases}"


def _impact(result: RunResult, breaches: dict[str, Breach], series: RunSeries | None) -> str:
    lines = ["## Impact", ""]
    for slo in result.slos:
        bad = sum(p.bad or 0.0 for p in slo.judged_phases.values())
        total = sum(p.total or 0.0 for p in slo.judged_phases.values())
        share = f"{bad / total:.3%} of {total:.0f} requests failed or slow" if total else "no requests counted"
        found = breaches.get(slo.name)
        below = (f"{found.below_s:.0f}s below objective (SLI over its trailing {_window(series, slo.name)})"
                 if found else "time below objective unknown (no series were captured)")
        budget = _budget(slo)
        lines.append(f"- **{slo.name}**: {below}; {share}; {budget}.")
    return "\n".join(lines) + "\n"


def _window(series: RunSeries | None, slo: str) -> str:
    found = series.sli(slo) if series else None
    return f"{found.burn_window_s:g}s" if found else "window"


def _budget(slo: SloResult) -> str:
    if slo.budget_consumed is None:
        return "error budget consumed unknown"
    text = f"{pct(slo.budget_consumed, 4)} of the period's error budget consumed"
    if slo.period_s:
        budget_min = slo.period_s * (100 - slo.objective) / 100 / 60
        text += f" ({slo.budget_consumed * budget_min:.2f} of its {budget_min:.0f} budget minutes)"
    return text


def _detection(result: RunResult, breaches: dict[str, Breach], fault_start: float | None) -> str:
    lines = ["## Detection", ""]
    if fault_start is None:
        return "\n".join([*lines, "- No fault was injected.", ""])
    lines.append(f"- First fault injected at {_utc(fault_start)}.")
    for slo, found in breaches.items():
        lines.append(f"- {slo}: first below objective {_after(found.first, fault_start)}." if found.first
                     else f"- {slo}: never below objective.")
    alerts = [e for e in result.expectations if e.kind == "alert"]
    for alert in alerts:
        seen = f"fired {alert.observed}" if alert.observed else "did not fire"
        lines.append(f"- Alert {alert.target}: {seen} ({alert.verdict}; expected within {alert.within}).")
    if not alerts:
        lines.append("- No alert was expected by the experiment: detection by alerting was not tested.")
    return "\n".join(lines) + "\n"


def _resolution(result: RunResult, breaches: dict[str, Breach], fault_end: float | None) -> str:
    lines = ["## Resolution", ""]
    if fault_end is not None:
        lines.append(f"- Last fault ended (reverted) at {_utc(fault_end)}.")
    for slo, found in breaches.items():
        if found.first is None:
            continue
        lines.append(f"- {slo}: back at objective {_after(found.recovered, fault_end)} (time to recover)."
                     if found.recovered is not None and fault_end is not None
                     else f"- {slo}: not back at objective before the run ended.")
    for expectation in result.expectations:
        if expectation.kind in ("recovers", "replicas_ready"):
            lines.append(f"- Expectation {expectation.kind} {expectation.target}: {expectation.verdict}"
                         + (f", observed {expectation.observed}" if expectation.observed else "") + ".")
    return "\n".join(lines) + "\n"


def _timeline(result: RunResult) -> str:
    lines = ["## Timeline (UTC)", ""]
    lines += [f"- {_utc(e.time)}: {e.kind} {e.name}" + (f": {e.detail}" if e.detail else "") for e in result.events]
    return "\n".join(lines) + "\n"


def _root_cause(result: RunResult, checks: Sequence[Check]) -> str:
    faults = "; ".join(f"{f.name} ({f.type}) on {', '.join(f.targets) or 'its targets'}"
                       + (f": {f.observed}" if f.observed else "") for f in result.faults) or "no fault"
    breached = next((c for c in checks if c.verdict != "PASS"), None)
    evidence = f"{breached.name}: {breached.reason}" if breached else "no check failed"
    return (f"## Root cause\n\n- Fault injected: {faults}.\n- First check that did not hold: {evidence}.\n"
            "- Cause: _to be written by the team (the evidence above shows what happened, not why)._\n")


def _went(checks: Sequence[Check]) -> str:
    well = [f"- {c.name}: {c.reason}" for c in checks if c.verdict == "PASS"] or ["- (nothing)"]
    wrong = [f"- {c.name} ({c.verdict}): {c.reason}" for c in checks if c.verdict != "PASS"] or ["- (nothing)"]
    return "\n".join(["## What went well", "", *well, "", "## What went wrong", "", *wrong]) + "\n"


def _actions(result: RunResult, checks: Sequence[Check]) -> str:
    if stopped_by_hand(result):
        return ("## Action items (suggested)\n\n- [ ] **detect**: the run was stopped by hand or by its job "
                f"({result.halted}) before it finished: run it again to the end before drawing conclusions\n")
    faults = ", ".join(f.type for f in result.faults if f.started is not None) or "the fault"
    items = []
    for check in checks:
        if check.verdict != "FAIL":  # an undecided check is evidence missing, not a weakness found
            continue
        kind, text = _action(check, faults)
        items.append(f"- [ ] **{kind}**: {text}")
    undecided = [c.name for c in checks if c.verdict not in ("PASS", "FAIL")]
    if undecided:
        items.append(f"- [ ] **detect**: {', '.join(undecided)} could not be decided: fix the evidence (see What went "
                     "wrong) and run again")
    items = items or ["- [ ] **prevent**: the experiment ended as it did without a failed check: review its design"]
    return "\n".join(["## Action items (suggested)", "", *items]) + "\n"


def _action(check: Check, faults: str) -> tuple[str, str]:
    name = check.name
    if name.startswith("expect alert"):
        return "detect", f"{name.removeprefix('expect ')} did not fire in time: review the alert's rule and windows"
    if name.startswith("expect recovers") or name.startswith("expect replicas_ready"):
        return "mitigate", f"{name.removeprefix('expect ')} was too slow: shorten restart and readiness times"
    if name.endswith("budget consumed") or name.endswith("burn rate"):
        return "prevent", f"{name} over its limit under {faults}: reduce the failures it causes"
    if name == "every fault reverted":
        return "prevent", "a fault was not reverted: fix its rollback before the next run"
    if ": phase " in name:
        return "mitigate", f"{name} missed its objective under {faults}: add tolerance (timeouts, retries, " \
                           "capacity, isolation) for this fault"
    return "prevent", f"{name}: {check.reason}"


def _after(moment: float | None, origin: float | None) -> str:
    if moment is None:
        return "never"
    if origin is None:
        return f"at {_utc(moment)}"
    return f"{moment - origin:+.0f}s after ({_utc(moment)})"


def _utc(moment: float | None, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    return "-" if moment is None else datetime.fromtimestamp(moment, UTC).strftime(fmt)
