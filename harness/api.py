"""The library API: what the CLI, a CI gate or a pytest plugin call to validate, plan and run.

Nothing here prints, sets up logging or exits: errors are exceptions (`SpecError` for bad input,
exit code 2 at the CLI), and a run's outcome is its RunResult, which is also in `result.json`.

    from harness.api import load_experiment, build_plan, run_experiment, load_result

    result = run_experiment(Path("experiments/shop-survives-replica-kill.yaml"))
    if result.verdict != "PASS":
        print(result.reason)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from harness.faults.types import FaultType, load_plugins, register
from harness.plan import Plan, build_plan
from harness.result import RunResult, load_result
from harness.run.result_build import run_result
from harness.run.runner import RunOptions
from harness.run.runner import run_experiment as _run
from harness.spec import loader
from harness.spec.loader import LoadedExperiment

__all__ = ["FaultType", "LoadedExperiment", "Plan", "RunOptions", "RunResult", "build_plan", "load_experiment",
           "load_result", "register", "run_experiment"]


def load_experiment(path: Path, environ: Mapping[str, str] | None = None) -> LoadedExperiment:
    """Read, validate and resolve an experiment (fault type plugins included); SpecError lists every problem."""
    load_plugins()
    return loader.load_experiment(path, environ)


def run_experiment(experiment: Path | LoadedExperiment, options: RunOptions | None = None) -> RunResult:
    """Run one experiment (a file, or one already loaded) to its end; every fault is reverted on every
    path out, and result.json is written before this returns."""
    loaded = experiment if isinstance(experiment, LoadedExperiment) else load_experiment(experiment)
    return run_result(_run(loaded, options or RunOptions()))
