"""What each subcommand does; output goes to stdout (results) and stderr (progress, problems)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from harness.api import find_files, validate_file
from harness.errors import SpecError
from harness.judge.verdict import EXIT_CODES, EXIT_INVALID
from harness.plan import build_plan
from harness.reports.console import progress_line, summary
from harness.reports.plan_text import describe_plan
from harness.result import RESULT_NAME
from harness.run.progress import ProgressSink, Snapshot
from harness.spec.loader import BUNDLED_ROOT, load_experiment

DEMO_EXPERIMENTS = (
    ("experiments/shop-survives-replica-kill.yaml", "PASS"),
    ("experiments/checkout-latency-regression.yaml", "FAIL"),
    ("remediation/experiments/shop-outage-remediated.yaml", "PASS"),
)
"""The demo game day; paths are relative to the checkout. The remediation proof lives outside
experiments/, so `harness gate experiments/` keeps its two bundled experiments."""
REMEDIATION_DEMO = (
    ("remediation/experiments/shop-outage-remediated.yaml", "PASS"),
    ("remediation/experiments/shop-outage-broken-runbook.yaml", "FAIL"),
)
"""`harness demo --remediation`: the page starts the runbook that ends an outage, and its broken twin."""


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


def plan(path: Path) -> int:
    loaded = load_experiment(path)
    print(describe_plan(loaded, build_plan(loaded)))
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

    loaded = load_experiment(path)
    print(f"running {loaded.name} ({path}) on platform {loaded.experiment.target.platform}", file=sys.stderr)
    options = RunOptions(output=output, stop_file=stop_file, progress=progress_sink(quiet),
                         progress_every_s=progress_every())
    result = run_experiment(loaded, options)
    summary(result, full_reasons=verbose)
    print(f"  result: {Path(result.run_dir or '.') / RESULT_NAME}")
    return int(result.exit_code if result.exit_code is not None else EXIT_CODES["ERROR"])


def demo(output: Path, stop_file: Path | None, quiet: bool, verbose: bool = False,
         remediation: bool = False) -> int:
    """The bundled game day: one experiment that should pass, one that should fail for a visible reason."""
    chosen = REMEDIATION_DEMO if remediation else DEMO_EXPERIMENTS
    outcomes = []
    for name, expected in chosen:
        path = BUNDLED_ROOT / name
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
    complete = len(outcomes) == len(chosen)
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
