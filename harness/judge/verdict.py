"""Verdicts, how they combine, and the exit code each one means."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE", "ABORTED", "ERROR"]

EXIT_CODES: dict[str, int] = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3, "ABORTED": 4, "ERROR": 5}
EXIT_INVALID = 2  # bad input: nothing was started
EXIT_REFUSED = 6  # the budget gate refused to start: no load sent, no fault injected
EXIT_INTERRUPTED = 130  # Ctrl-C outside a run (a run itself ends ABORTED)

# A failed check outranks missing evidence: the failure is real whatever else is unknown.
_RANK = {"PASS": 0, "INCONCLUSIVE": 1, "FAIL": 2, "ABORTED": 3, "ERROR": 4}


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """The overall verdict of several checks; no checks at all is INCONCLUSIVE, never PASS."""
    worst: Verdict | None = None
    for verdict in verdicts:
        if worst is None or _RANK[verdict] > _RANK[worst]:
            worst = verdict
    return worst if worst is not None else "INCONCLUSIVE"
