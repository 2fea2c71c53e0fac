"""The library API: what the CLI, a CI gate or a pytest plugin call to validate, plan and run.

Nothing here prints, sets up logging or exits: errors are exceptions (`SpecError` for bad input,
exit code 2 at the CLI), and a run's outcome is its RunResult, which is also in `result.json`.

    from harness.api import load_experiment, build_plan, run_experiment, load_result

    result = run_experiment(Path("experiments/shop-survives-replica-kill.yaml"))
    if result.verdict != "PASS":
        print(result.reason)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import SpecError
from harness.faults.types import FaultType, load_plugins, register
from harness.plan import Plan, build_plan
from harness.result import RunResult, load_result
from harness.run.result_build import run_result
from harness.run.runner import RunOptions
from harness.run.runner import run_experiment as _run
from harness.spec import loader
from harness.spec.gameday import load_gameday
from harness.spec.loader import PLATFORM_VARIABLES, LoadedExperiment, load_profile, load_runbook
from harness.spec.slo_files import import_slos
from harness.spec.source import DocumentError, read_all_documents

__all__ = ["FILE_SUFFIXES", "FaultType", "LoadedExperiment", "Plan", "RunOptions", "RunResult", "build_plan",
           "find_files", "load_experiment", "load_result", "register", "run_experiment", "validate_file"]

FILE_SUFFIXES = (".yaml", ".yml", ".json")


def load_experiment(path: Path, environ: Mapping[str, str] | None = None) -> LoadedExperiment:
    """Read, validate and resolve an experiment (fault type plugins included); SpecError lists every problem."""
    load_plugins()
    return loader.load_experiment(path, environ)


def run_experiment(experiment: Path | LoadedExperiment, options: RunOptions | None = None) -> RunResult:
    """Run one experiment (a file, or one already loaded) to its end; every fault is reverted on every
    path out, and result.json is written before this returns."""
    loaded = experiment if isinstance(experiment, LoadedExperiment) else load_experiment(experiment)
    return run_result(_run(loaded, options or RunOptions()))


def find_files(paths: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """The YAML and JSON files under these files and folders, and what is wrong with the paths themselves."""
    files, problems = [], []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in FILE_SUFFIXES and p.is_file())
            if not found:
                problems.append(f"{path}: no .yaml, .yml or .json files in this folder")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(f"{path}: no such file or folder")
    return files, problems


def validate_file(path: Path) -> str:
    """Validate one file by its kind; returns what it is, raises SpecError with every problem."""
    try:
        docs = read_all_documents(path)
    except DocumentError as err:
        raise SpecError([err.problem.render()]) from None
    if not docs:
        raise SpecError([f"{path}: the file is empty"])
    doc = docs[0]
    data = doc.data if isinstance(doc.data, dict) else {}
    if isinstance(doc.data, list) and doc.data and isinstance(doc.data[0], dict):
        data = doc.data[0]  # OpenSLO also allows a list of documents
    kind, api = data.get("kind"), str(data.get("apiVersion", data.get("version", "")))
    if kind == "Experiment":
        loaded = load_experiment(path)
        build_plan(loaded)
        return f"experiment {loaded.name}"
    if kind == "LoadProfile":
        return f"load profile {load_profile(path).profile.metadata.name}"
    if kind == "GameDay":
        gameday = load_gameday(path)
        return f"game day {gameday.name} ({len(gameday.experiments)} experiments)"
    if kind == "Runbook":
        return f"runbook {load_runbook(path, None, PLATFORM_VARIABLES['local']).runbook.metadata.name}"
    if api.startswith("openslo/") or api == "prometheus/v1" or api.startswith("sloth.slok.dev/"):
        return f"SLO file ({', '.join(slo.name for slo in import_slos(path))})"
    line = doc.line_of(("kind",)) or 1
    raise SpecError([f"{path}:{line} kind: unknown kind {kind!r}: expected Experiment, LoadProfile, GameDay or Runbook "
                     "(or an OpenSLO / Sloth SLO file)"])
