"""The library API: what the CLI, a CI gate or a pytest plugin call to validate, plan and run.

Nothing here prints, sets up logging or exits: errors are exceptions (`SpecError` for bad input,
exit code 2 at the CLI), and a run's outcome is its RunResult, which is also in `result.json`.

    from harness.api import load_experiment, build_plan, run_experiment, load_result

    result = run_experiment(Path("experiments/shop-survives-replica-kill.yaml"))
    if result.verdict != "PASS":
        print(result.reason)
"""

from __future__ import annotations

from pathlib import Path

from harness.plan import Plan, build_plan
from harness.result import RunResult, load_result, run_result
from harness.run.runner import RunOptions
from harness.run.runner import run_experiment as _run
from harness.spec.loader import LoadedExperiment, load_experiment

__all__ = ["LoadedExperiment", "Plan", "RunOptions", "RunResult", "build_plan", "load_experiment", "load_result",
           "run_experiment"]


def run_experiment(experiment: Path | LoadedExperiment, options: RunOptions | None = None) -> RunResult:
    """Run one experiment (a file, or one already loaded) to its end; every fault is reverted on every
    path out, and result.json is written before this returns."""
    loaded = experiment if isinstance(experiment, LoadedExperiment) else load_experiment(experiment)
    return run_result(_run(loaded, options or RunOptions()))
