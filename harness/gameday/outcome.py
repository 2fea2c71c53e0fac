"""A game day's one answer (pure): PASS when every experiment ended as designed, otherwise the most
severe outcome, as for a gate (FAIL 1 > ABORTED 4 > ERROR 5 > INCONCLUSIVE 3).

A run that PASSed where a failure was designed missed its design: it counts as FAIL. A run that never
started counts as ERROR, except when the day was stopped by its budget gate or its time window before
it: then, if nothing worse happened, the day was REFUSED (exit 6), as a run refused by its own budget
gate is.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.gate.outcome import gate_outcome
from harness.judge.verdict import EXIT_REFUSED, Verdict
from harness.result.gameday import GameDayRun

REFUSED_PREFIX = "refused: "
"""How `not_run` starts for an experiment the budget gate or the window kept from starting."""


def gameday_outcome(runs: Sequence[GameDayRun]) -> tuple[str, int]:
    """(verdict, exit code) of the whole day."""
    missed = [run for run in runs if not run.as_designed]
    if not missed:
        return "PASS", 0
    ran: list[Verdict | None] = ["FAIL" if run.verdict == "PASS" else run.verdict for run in missed
                                 if run.verdict is not None]
    if any(run.verdict is None and not run.not_run.startswith(REFUSED_PREFIX) for run in missed):
        ran.append(None)  # counts as ERROR
    if not ran:
        return "REFUSED", EXIT_REFUSED
    outcome = gate_outcome(ran)
    return outcome.verdict, outcome.exit_code
