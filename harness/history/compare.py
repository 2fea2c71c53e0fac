"""A run's figures against a baseline from its history (pure).

Compared: each judged phase's SLI, each SLO's budget consumed and peak burn rate, with runs of the
same experiment fingerprint (the experiment, its load profile and SLO files) that PASSed before it.
A figure is a REGRESSION when it is worse than the baseline by more than the relative tolerance AND
by more than an absolute floor (so a budget of 0.0001 % against 0 is noise, not a regression). For an
SLI "worse" is measured on its error ratio (1 - SLI): 99.0 % against 99.5 % is twice the errors.
Too few earlier runs is "no baseline": never a failure, and never a pass of the comparison.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.result.model import RunResult

DEFAULT_TOLERANCE = 0.2
SLI_FLOOR = 0.0005
"""Error ratio, absolute: 0.05 percentage points of requests."""
BUDGET_FLOOR = 0.00001
"""Budget consumed, absolute: 0.001 % of the period's error budget."""
BURN_FLOOR = 0.1
"""Peak burn rate, absolute."""


@dataclass(frozen=True)
class CompareRule:
    """How the baseline is chosen: the last passing run (count 1), the median of the last `count`
    passing runs, or one pinned run."""

    count: int = 1
    pinned: str | None = None
    tolerance: float = DEFAULT_TOLERANCE
    warn_only: bool = False

    def describe(self) -> str:
        if self.pinned is not None:
            return f"run {self.pinned}"
        return "the last passing run" if self.count == 1 else f"the median of the last {self.count} passing runs"


@dataclass(frozen=True)
class Figure:
    slo: str
    name: str
    """`phase fault SLI`, `budget consumed` or `peak burn rate`."""
    now: float | None
    baseline: float | None
    kind: str
    """"sli", "budget" or "burn": how it is shown and which floor applies."""
    regression: bool = False

    @property
    def label(self) -> str:
        return f"{self.slo} {self.name}"


@dataclass(frozen=True)
class Comparison:
    experiment: str
    rule: CompareRule
    baseline_runs: tuple[str, ...] = ()
    figures: tuple[Figure, ...] = ()
    no_baseline: str | None = None
    """Why nothing was compared (too few earlier runs), None when a baseline was found."""
    notes: tuple[str, ...] = ()

    @property
    def regressions(self) -> list[Figure]:
        return [f for f in self.figures if f.regression]

    @property
    def fails(self) -> bool:
        return bool(self.regressions) and not self.rule.warn_only

    @property
    def baseline(self) -> str:
        if self.no_baseline is not None:
            return "no baseline"
        runs = ", ".join(self.baseline_runs)
        return f"{self.rule.describe()} ({runs})" if self.rule.pinned is None else self.rule.describe()


def compare(result: RunResult, earlier: Sequence[RunResult], rule: CompareRule) -> Comparison:
    """result against the baseline the rule picks from earlier runs (any experiment; filtered here)."""
    runs, notes, missing = _baseline_runs(result, earlier, rule)
    if missing is not None:
        return Comparison(result.experiment, rule, no_baseline=missing, notes=notes)
    figures = [_judged(figure, rule.tolerance) for figure in _figures(result, runs)]
    return Comparison(result.experiment, rule, tuple(r.run_id for r in runs), tuple(figures), notes=notes)


def _baseline_runs(result: RunResult, earlier: Sequence[RunResult],
                   rule: CompareRule) -> tuple[list[RunResult], tuple[str, ...], str | None]:
    fingerprint = result.source.fingerprint if result.source is not None else None
    if rule.pinned is not None:
        pinned = next((r for r in earlier if r.run_id == rule.pinned), None)
        if pinned is None or pinned.experiment != result.experiment:
            return [], (), f"run {rule.pinned} is not a run of {result.experiment}"
        same = pinned.source is not None and pinned.source.fingerprint == fingerprint
        notes = () if same else (f"the pinned baseline {rule.pinned} ran a different version of the experiment "
                                 "(its fingerprint differs): compared as asked",)
        return [pinned], notes, None
    if fingerprint is None:
        return [], (), "this run's result has no experiment fingerprint to find comparable runs by"
    passing = [r for r in earlier if r.run_id != result.run_id and r.verdict == "PASS" and r.source is not None
               and r.source.fingerprint == fingerprint and (r.started or 0.0) < (result.started or float("inf"))]
    if len(passing) < rule.count:
        have = f"{len(passing)} earlier passing run{'s' if len(passing) != 1 else ''}"
        return [], (), f"{have} of this experiment version ({rule.count} needed)"
    return passing[-rule.count:], (), None


def _figures(result: RunResult, runs: Sequence[RunResult]) -> list[Figure]:
    figures = []
    for slo in result.slos:
        others = [s for run in runs for s in run.slos if s.name == slo.name]
        for phase_name, phase in slo.judged_phases.items():
            base = [s.phases[phase_name].sli for s in others if phase_name in s.phases]
            figures.append(Figure(slo.name, f"phase {phase_name} SLI", phase.sli, _median(base), "sli"))
        figures.append(Figure(slo.name, "budget consumed", slo.budget_consumed,
                              _median([s.budget_consumed for s in others]), "budget"))
        figures.append(Figure(slo.name, "peak burn rate", slo.peak_burn_rate,
                              _median([s.peak_burn_rate for s in others]), "burn"))
    return figures


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


_WORSE: dict[str, tuple[Callable[[float], float], float]] = {
    "sli": (lambda sli: 1.0 - sli, SLI_FLOOR),  # compared as error ratios
    "budget": (lambda value: value, BUDGET_FLOOR),
    "burn": (lambda value: value, BURN_FLOOR),
}


def _judged(figure: Figure, tolerance: float) -> Figure:
    if figure.now is None or figure.baseline is None:
        return figure
    cost, floor = _WORSE[figure.kind]
    now, base = cost(figure.now), cost(figure.baseline)
    regression = now - base > floor and now > base * (1.0 + tolerance)
    return Figure(figure.slo, figure.name, figure.now, figure.baseline, figure.kind, regression)


def is_regression(kind: str, now: float, baseline: float, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    """The rule on two numbers (what the README's examples and the tests state)."""
    return _judged(Figure("", "", now, baseline, kind), tolerance).regression
