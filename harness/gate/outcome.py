"""The gate's one answer for a set of runs (pure).

Any run that did not PASS fails the gate, with the code of the most severe outcome:
FAIL 1 > ABORTED 4 > ERROR 5 > INCONCLUSIVE 3. INCONCLUSIVE (a budget-gate refusal included) fails
closed unless it is allowed, and an experiment that never started (the gate was interrupted) counts
as ERROR: nothing about it is known. When runs are compared with a baseline, a regression fails a
gate whose runs all PASSed with FAIL's code (1), unless regressions only warn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.judge.verdict import EXIT_CODES, Verdict

SEVERITY: tuple[Verdict, ...] = ("FAIL", "ABORTED", "ERROR", "INCONCLUSIVE")


@dataclass(frozen=True)
class GateOutcome:
    verdict: Verdict
    exit_code: int
    counts: dict[str, int]
    allowed_inconclusive: int = 0
    regressions: int = 0
    """Experiments with a regression against their baseline."""
    regressions_warn: bool = False

    @property
    def headline(self) -> str:
        counted = ", ".join(f"{n} {v}" for v, n in self.counts.items() if n)
        allowed = f" ({self.allowed_inconclusive} INCONCLUSIVE allowed)" if self.allowed_inconclusive else ""
        regressed = ""
        if self.regressions:
            warn = ", warning only" if self.regressions_warn else ""
            regressed = f"; {self.regressions} with a REGRESSION against the baseline{warn}"
        return f"gate {self.verdict} (exit {self.exit_code}): {counted or 'no experiment ran'}{allowed}{regressed}"


def gate_outcome(verdicts: Sequence[Verdict | None], allow_inconclusive: bool = False, regressions: int = 0,
                 regressions_warn: bool = False) -> GateOutcome:
    """The gate's verdict and exit code; None stands for an experiment that never ran to a verdict."""
    known: list[Verdict] = [v if v is not None else "ERROR" for v in verdicts]
    counts: dict[str, int] = {v: known.count(v) for v in ("PASS", *SEVERITY)}
    failing = [v for v in known if v != "PASS" and not (allow_inconclusive and v == "INCONCLUSIVE")]
    allowed = counts["INCONCLUSIVE"] if allow_inconclusive else 0
    if regressions and not regressions_warn:
        failing.append("FAIL")
    if not known:
        return GateOutcome("ERROR", EXIT_CODES["ERROR"], counts)
    if not failing:
        return GateOutcome("PASS", EXIT_CODES["PASS"], counts, allowed, regressions, regressions_warn)
    worst = next(v for v in SEVERITY if v in failing)
    return GateOutcome(worst, EXIT_CODES[worst], counts, allowed, regressions, regressions_warn)
