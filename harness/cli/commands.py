"""What each subcommand does; output goes to stdout (results) and stderr (progress, problems)."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.errors import SpecError
from harness.judge.verdict import EXIT_CODES, EXIT_INVALID
from harness.plan import build_plan
from harness.reports.console import progress_line, summary
from harness.reports.plan_text import describe_plan
from harness.result import RESULT_NAME
from harness.run.progress import Snapshot
from harness.spec.loader import BUNDLED_ROOT, load_experiment, load_profile
from harness.spec.slo_files import import_slos
from harness.spec.source import DocumentError, read_all_documents

FILE_SUFFIXES = (".yaml", ".yml", ".json")
DEMO_EXPERIMENTS = (
    ("shop-survives-replica-kill.yaml", "PASS"),
    ("checkout-latency-regression.yaml", "FAIL"),
)


def _files(paths: list[Path]) -> tuple[list[Path], list[str]]:
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
    if api.startswith("openslo/") or api == "prometheus/v1" or api.startswith("sloth.slok.dev/"):
        return f"SLO file ({', '.join(slo.name for slo in import_slos(path))})"
    line = doc.line_of(("kind",)) or 1
    raise SpecError([f"{path}:{line} kind: unknown kind {kind!r}: expected Experiment or LoadProfile "
                     "(or an OpenSLO / Sloth SLO file)"])


def validate(paths: list[Path]) -> int:
    files, problems = _files(paths)
    for path in files:
        try:
            what = validate_file(path)
        except SpecError as err:
            problems.extend(err.problems)
            continue
        print(f"ok   {path}: {what}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in {len(files)} file(s)", file=sys.stderr)
        return EXIT_INVALID
    print(f"{len(files)} file(s) valid")
    return 0


def plan(path: Path) -> int:
    loaded = load_experiment(path)
    print(describe_plan(loaded, build_plan(loaded)))
    return 0


def _progress(quiet: bool) -> object:
    if quiet:
        return None
    import logging

    # the run's steps (platform up, phases, faults injected and reverted) interleave with progress
    logging.getLogger("harness.run").setLevel(min(logging.getLogger("harness").getEffectiveLevel(), logging.INFO))

    def show(snapshot: Snapshot) -> None:
        sys.stderr.write(progress_line(snapshot) + "\n")
        sys.stderr.flush()

    return show


def run(path: Path, output: Path, stop_file: Path | None, quiet: bool, verbose: bool = False) -> int:
    from harness.api import RunOptions, run_experiment

    loaded = load_experiment(path)
    print(f"running {loaded.name} ({path}) on platform {loaded.experiment.target.platform}", file=sys.stderr)
    options = RunOptions(output=output, stop_file=stop_file, progress=_progress(quiet),  # type: ignore[arg-type]
                         progress_every_s=2.0 if sys.stderr.isatty() else 5.0)
    result = run_experiment(loaded, options)
    summary(result, full_reasons=verbose)
    print(f"  result: {Path(result.run_dir or '.') / RESULT_NAME}")
    return int(result.exit_code if result.exit_code is not None else EXIT_CODES["ERROR"])


def demo(output: Path, stop_file: Path | None, quiet: bool, verbose: bool = False) -> int:
    """The bundled game day: one experiment that should pass, one that should fail for a visible reason."""
    folder = BUNDLED_ROOT / "experiments"
    outcomes = []
    for name, expected in DEMO_EXPERIMENTS:
        path = folder / name
        if not path.is_file():
            raise SpecError([f"{path}: the bundled demo experiment is missing (run from a checkout of the project)"])
        print(f"\n== {name}: expected {expected} ==", file=sys.stderr)
        code = run(path, output, stop_file, quiet, verbose)
        outcomes.append((name, expected, code))
        if code == EXIT_CODES["ABORTED"]:
            print("demo halted: the remaining experiments were not started", file=sys.stderr)
            break
    print("\ndemo game day:")
    wanted = {"PASS": 0, "FAIL": 1}
    for name, expected, code in outcomes:
        got = {c: v for v, c in EXIT_CODES.items()}.get(code, f"exit {code}")
        mark = "as designed" if wanted[expected] == code else f"UNEXPECTED (designed to {expected})"
        print(f"  {name}: {got} - {mark}")
    complete = len(outcomes) == len(DEMO_EXPERIMENTS)
    return 0 if complete and all(wanted[e] == c for _, e, c in outcomes) else 1


def rollback(run_dir: Path) -> int:
    from harness.run.journal import JOURNAL_NAME
    from harness.run.journal import rollback as undo_all

    if not (run_dir / JOURNAL_NAME).is_file():
        print(f"{run_dir}: no {JOURNAL_NAME} here: not a run folder, or no fault was ever injected", file=sys.stderr)
        return EXIT_INVALID
    outcomes = undo_all(run_dir)
    if not outcomes:
        print(f"{run_dir}: nothing to roll back (every fault was already reverted)")
        return 0
    for outcome in outcomes:
        print(f"{'ok    ' if outcome.ok else 'FAILED'} {outcome.fault}: {outcome.message}")
    return EXIT_CODES["PASS"] if all(o.ok for o in outcomes) else EXIT_CODES["ERROR"]
