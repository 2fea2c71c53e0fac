"""Every judged check of a run, one by one, with where it is written: what JUnit, Markdown and CI annotations list.

The checks are the SLOs' own (each judged phase, the budget and burn-rate limits), each expectation,
and "every fault reverted". When the run's verdict is not explained by any of them (a preflight that
found no data, an abort, an interruption) one more check, "run", carries it: a gate never shows
all-green checks for a run that did not pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.history.compare import Comparison
from harness.judge.verdict import Verdict, combine
from harness.reports.figures import figure_value
from harness.result.model import RunResult, SloResult

RUN_CHECK = "run"
REVERT_CHECK = "every fault reverted"
REGRESSION_CHECK = "no regression against the baseline"
_LIMIT_FIELDS = {"budget consumed": "max_budget_consumed", "burn rate": "max_burn_rate"}
_INTERRUPTED = ("interrupted by",)


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    reason: str
    line: int | None = None
    seconds: float = 0.0
    """How long the check's window was (a phase's seconds; 0 for run-wide checks)."""


def run_checks(result: RunResult) -> list[Check]:
    """Every check of the run, in the order of the file; names are unique within the run."""
    lines = dict(result.source.lines) if result.source else {}
    checks = [check for slo in result.slos for check in _slo_checks(slo, lines)]
    checks += [Check(f"expect {e.kind} {e.target}", e.verdict, e.reason, lines.get(f"expect[{index}]"))
               for index, e in enumerate(result.expectations)]
    checks.append(_revert_check(result, lines.get("faults")))
    run_check = _run_check(result, checks, lines.get("metadata"))
    if run_check is not None:
        checks.append(run_check)
    return _unique(checks)


def stopped_by_hand(result: RunResult) -> bool:
    """Halted by a signal or the kill switch (a person or a cancelled job), not by its own abort rule."""
    return result.halted is not None and result.halted.startswith((*_INTERRUPTED, "kill switch"))


def interrupted(result: RunResult) -> bool:
    """Stopped by a signal (Ctrl-C, a cancelled CI job) before it finished, not by its own abort rule."""
    return result.halted is not None and result.halted.startswith(_INTERRUPTED)


def _slo_checks(slo: SloResult, lines: dict[str, int]) -> list[Check]:
    key = f"hypothesis.{slo.name}"
    checks = []
    for item in slo.checks:
        line = lines.get(key)
        seconds = 0.0
        if item.check.startswith("phase "):
            phase = slo.phases.get(item.check.removeprefix("phase "))
            if phase is not None and phase.start is not None and phase.end is not None:
                seconds = max(phase.end - phase.start, 0.0)
        elif item.check in _LIMIT_FIELDS:
            line = lines.get(f"{key}.{_LIMIT_FIELDS[item.check]}", line)
        checks.append(Check(f"{slo.name}: {item.check}", item.verdict, item.reason, line, seconds))
    return checks


def _revert_check(result: RunResult, line: int | None) -> Check:
    failed = [f for f in result.faults if f.reverted is False]
    if failed:
        named = "; ".join(f"{f.name}: {f.revert_error or 'revert failed'}" for f in failed)
        return Check(REVERT_CHECK, "ERROR", f"{len(failed)} fault(s) not reverted, roll back by hand "
                     f"(harness rollback {result.run_dir or 'RUN_DIR'}): {named}", line)
    injected = [f for f in result.faults if f.started is not None]
    reverted = [f for f in injected if f.reverted]
    if not injected:
        return Check(REVERT_CHECK, "PASS", "no fault was injected, so none was left behind", line)
    instant = len(injected) - len(reverted)
    detail = f", {instant} instant (nothing to revert)" if instant else ""
    return Check(REVERT_CHECK, "PASS", f"{len(reverted)} of {len(injected)} fault(s) reverted{detail}", line)


def _run_check(result: RunResult, checks: list[Check], line: int | None) -> Check | None:
    if interrupted(result):
        return Check(RUN_CHECK, "ERROR", f"did not finish: {result.halted} (its faults were reverted)", line)
    verdict = result.verdict or "ERROR"
    if verdict == "PASS" or combine(c.verdict for c in checks) == verdict:
        return None
    return Check(RUN_CHECK, verdict, result.reason or result.status or "the run did not pass", line)


def _unique(checks: list[Check]) -> list[Check]:
    seen: dict[str, int] = {}
    unique = []
    for check in checks:
        count = seen.get(check.name, 0) + 1
        seen[check.name] = count
        unique.append(check if count == 1 else Check(f"{check.name} ({count})", check.verdict, check.reason,
                                                     check.line, check.seconds))
    return unique


@dataclass(frozen=True)
class Entry:
    """One experiment of a gate or game day: its file, and its result once it ran (None: never started)."""

    name: str
    file: str
    """The experiment file as reports and annotations show it (relative to the working folder when inside it)."""
    result: RunResult | None = None
    not_run: str = ""
    """Why it never started (the gate was interrupted, an earlier run stopped it)."""
    comparison: Comparison | None = None
    """Against earlier runs, when the gate was asked to compare."""

    def checks(self) -> list[Check]:
        if self.result is None:
            return [Check(RUN_CHECK, "ERROR", f"not run: {self.not_run or 'the gate stopped before it'}")]
        checks = run_checks(self.result)
        if self.comparison is not None and self.comparison.no_baseline is None:
            checks.append(regression_check(self.comparison, self.result))
        return checks

    @property
    def verdict(self) -> Verdict | None:
        return None if self.result is None else self.result.verdict


def regression_check(comparison: Comparison, result: RunResult) -> Check:
    """A regression fails the check (a warning with `--regression warn`); "no baseline" has no check."""
    lines = dict(result.source.lines) if result.source else {}
    worse = comparison.regressions
    if not worse:
        return Check(REGRESSION_CHECK, "PASS", f"no figure worse than {comparison.baseline} beyond the tolerance "
                     f"({comparison.rule.tolerance:.0%} and its floor)", lines.get("hypothesis"))
    listed = "; ".join(f"{f.label} {figure_value(f.kind, f.now)} (baseline {figure_value(f.kind, f.baseline)})"
                       for f in worse)
    warn = " (warning only: --regression warn)" if comparison.rule.warn_only else ""
    return Check(REGRESSION_CHECK, "PASS" if comparison.rule.warn_only else "FAIL",
                 f"REGRESSION against {comparison.baseline}{warn}: {listed}", lines.get("hypothesis"))
