"""What each subcommand does; output goes to stdout (results) and stderr (progress, problems)."""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

from harness.api import find_files, validate_file
from harness.errors import SpecError
from harness.judge.verdict import EXIT_CODES, EXIT_INVALID
from harness.plan import build_plan
from harness.reports.console import progress_line, summary
from harness.reports.plan_text import describe_gameday, describe_plan
from harness.result import RESULT_NAME
from harness.run.cluster_checks import aim_on_cluster
from harness.run.progress import ProgressSink, Snapshot
from harness.spec.gameday import is_gameday_file, load_gameday
from harness.spec.loader import load_experiment


def validate(paths: list[Path]) -> int:
    files, problems = find_files(paths)
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


def plan(path: Path, cluster: bool = False) -> int:
    if is_gameday_file(path):
        print(describe_gameday(load_gameday(path)), end="")
        return 0
    loaded = load_experiment(path)
    planned = build_plan(loaded)
    print(describe_plan(loaded, planned))
    if cluster:
        if loaded.experiment.target.platform != "kubernetes":
            print(f"{path}: --cluster needs platform kubernetes", file=sys.stderr)
            return EXIT_INVALID
        with tempfile.TemporaryDirectory(prefix="harness-plan-") as scratch:
            print("\n".join(["", *aim_on_cluster(loaded, planned, Path(scratch))]))
    return 0


def progress_sink(quiet: bool, prefix: str = "") -> ProgressSink | None:
    """Live progress on stderr, each line led by `prefix` (a gate's "[2/5] "); None when quiet."""
    if quiet:
        return None
    # the run's steps (platform up, phases, faults injected and reverted) interleave with progress
    logging.getLogger("harness.run").setLevel(min(logging.getLogger("harness").getEffectiveLevel(), logging.INFO))

    def show(snapshot: Snapshot) -> None:
        sys.stderr.write(prefix + progress_line(snapshot) + "\n")
        sys.stderr.flush()

    return show


def progress_every() -> float:
    """Seconds between progress lines: often on a terminal, sparingly in a CI log."""
    return 2.0 if sys.stderr.isatty() else 5.0


def run(path: Path, output: Path, stop_file: Path | None, quiet: bool, verbose: bool = False) -> int:
    from harness.api import RunOptions, run_experiment

    if is_gameday_file(path):
        raise SpecError([f"{path}: this is a game day (kind: GameDay): run it with `harness gameday {path}`"])
    loaded = load_experiment(path)
    print(f"running {loaded.name} ({path}) on platform {loaded.experiment.target.platform}", file=sys.stderr)
    options = RunOptions(output=output, stop_file=stop_file, progress=progress_sink(quiet),
                         progress_every_s=progress_every())
    result = run_experiment(loaded, options)
    summary(result, full_reasons=verbose)
    print(f"  result: {Path(result.run_dir or '.') / RESULT_NAME}")
    return int(result.exit_code if result.exit_code is not None else EXIT_CODES["ERROR"])


def rollback(run_dir: Path) -> int:
    """Undo what a crashed run left behind; given a game day's folder, what any of its runs left."""
    from harness.run.journal import JOURNAL_NAME

    if (run_dir / JOURNAL_NAME).is_file():
        return _rollback_one(run_dir)
    runs = sorted(p.parent for p in run_dir.glob(f"*/{JOURNAL_NAME}"))
    if not runs:
        print(f"{run_dir}: no {JOURNAL_NAME} here or in its run folders: not a run or game day folder, or no fault "
              "was ever injected", file=sys.stderr)
        return EXIT_INVALID
    codes = []
    for folder in runs:  # a game day's folder: each of its runs in turn
        print(f"== {folder.name}")
        codes.append(_rollback_one(folder))
    return max(codes)


def _rollback_one(run_dir: Path) -> int:
    from harness.run.journal import rollback as undo_all

    outcomes = undo_all(run_dir)
    if not outcomes:
        print(f"{run_dir}: nothing to roll back (every fault was already reverted)")
        return 0
    for outcome in outcomes:
        print(f"{'ok    ' if outcome.ok else 'FAILED'} {outcome.fault}: {outcome.message}")
    return EXIT_CODES["PASS"] if all(o.ok for o in outcomes) else EXIT_CODES["ERROR"]
