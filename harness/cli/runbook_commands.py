"""`harness runbook run FILE`: run a runbook by hand, with the logging the automation uses."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from harness.judge.verdict import EXIT_CODES
from harness.remediation.runbook import RunbookContext, run_runbook
from harness.spec.loader import load_runbook


def run(path: Path) -> int:
    load_runbook(path)  # every problem (a missing variable, a command as a string) before any step runs
    logging.getLogger("harness.remediation").setLevel(logging.INFO)
    ctx = RunbookContext(prometheus_url=os.environ.get("PROMETHEUS_URL"), cwd=path.resolve().parent)
    outcome = run_runbook(path.resolve(), "by hand", ctx)
    for step in outcome.steps:
        print(f"  {step.result:<9} {step.name} ({step.kind}, {step.ended - step.started:.1f}s) {step.detail}")
    if outcome.ok:
        print(f"runbook {outcome.runbook}: done ({outcome.reason})")
        return 0
    print(f"runbook {outcome.runbook}: FAILED: {outcome.reason}", file=sys.stderr)
    return EXIT_CODES["FAIL"]
