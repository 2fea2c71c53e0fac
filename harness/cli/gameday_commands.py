"""`harness gameday` and `harness demo` (the bundled game day), and a game day folder's reports and rollback."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.cli.commands import progress_every, progress_sink
from harness.cli.gate_commands import emit
from harness.errors import SpecError
from harness.gameday.reports import day_html, day_markdown, postmortems, read_day
from harness.gameday.run import GameDayOptions, run_gameday
from harness.judge.verdict import EXIT_CODES
from harness.reports.console import summary
from harness.reports.junit import Flavour, junit_xml
from harness.result import RESULT_NAME
from harness.result.gameday import GameDayResult, GameDayRun, load_gameday_result
from harness.result.model import RunResult
from harness.spec.gameday import load_gameday
from harness.spec.loader import BUNDLED_ROOT, LoadedExperiment

DEMO_GAMEDAY = BUNDLED_ROOT / "gamedays" / "demo.yaml"
REMEDIATION_GAMEDAY = BUNDLED_ROOT / "gamedays" / "remediation.yaml"


def gameday(path: Path, output: Path, stop_file: Path | None, quiet: bool, verbose: bool = False) -> int:
    loaded = load_gameday(path)  # every referenced experiment too: exit 2 before anything starts
    total = len(loaded.experiments)
    print(f"game day {loaded.name} ({path}): {total} experiment(s), validated", file=sys.stderr)

    def on_start(index: int, count: int, experiment: LoadedExperiment, designed: str) -> None:
        print(f"\n== experiment {index} of {count}: {experiment.name} (designed {designed}) ==", file=sys.stderr)

    def on_result(index: int, count: int, run: GameDayRun, result: RunResult | None) -> None:
        if result is not None:
            summary(result, full_reasons=verbose)
            print(f"  result: {Path(result.run_dir or '.') / RESULT_NAME}")
        mark = "as designed" if run.as_designed else f"NOT as designed (designed {run.designed})"
        print(f"game day: experiment {index} of {count} done: {run.verdict or 'NOT RUN'}, {mark}", file=sys.stderr)

    def on_wait(text: str) -> None:
        if not quiet:
            print(f"game day: {text}", file=sys.stderr)

    result = run_gameday(loaded, GameDayOptions(
        output=output, stop_file=stop_file, on_start=on_start, on_result=on_result, on_wait=on_wait,
        progress=lambda index, count: progress_sink(quiet, prefix=f"[{index}/{count}] "),
        progress_every_s=progress_every()))
    _print_day(result, Path(output))
    return int(result.exit_code if result.exit_code is not None else EXIT_CODES["ERROR"])


def _print_day(result: GameDayResult, output: Path) -> None:
    print(f"\ngame day {result.name}: {result.verdict} (exit {result.exit_code})")
    for run in result.runs:
        got = run.verdict or "NOT RUN"
        mark = "as designed" if run.as_designed else f"UNEXPECTED (designed to {run.designed})"
        print(f"  {run.experiment}: {got} - {mark}" + (f" ({run.not_run})" if run.not_run else ""))
    if result.stopped:
        print(f"  stopped: {result.stopped}")
    folder = _folder_of(result, output)
    print(f"  game day folder: {folder}")
    for name in result.reports:
        print(f"  report: {folder / name}")


def _folder_of(result: GameDayResult, output: Path) -> Path:
    return output.resolve() / result.gameday_id


def demo(output: Path, stop_file: Path | None, quiet: bool, verbose: bool = False, remediation: bool = False) -> int:
    """The bundled game day (gamedays/demo.yaml), or with `remediation` the remediation pair
    (gamedays/remediation.yaml): each experiment should end with its designed verdict."""
    day = REMEDIATION_GAMEDAY if remediation else DEMO_GAMEDAY
    if not day.is_file():
        raise SpecError([f"{day}: the bundled demo game day is missing (run from a checkout of the project)"])
    code = gameday(day, output, stop_file, quiet, verbose)
    return 0 if code == 0 else 1  # as it always was: 0 when both experiments met their design


def gameday_report(folder: Path, fmt: str, output: Path | None, allow_inconclusive: bool = False,
                   flavour: Flavour = "default") -> int:
    """A game day's report rebuilt from its folder (gameday.json and the runs' folders)."""
    result = load_gameday_result(folder)
    day = read_day(result, folder)
    if fmt == "postmortem":
        drafts = postmortems(result, day)
        if not drafts:
            print(f"{folder}: every run ended as designed: no postmortem draft to write", file=sys.stderr)
            return 0
        text = "\n\n---\n\n".join(drafts.values())
    elif fmt == "html":
        text = day_html(result, day)
    elif fmt == "markdown":
        text = day_markdown(result, day)
    else:  # junit: one suite per run, as a gate writes them
        text = junit_xml(day.entries, allow_inconclusive=allow_inconclusive, flavour=flavour, name=result.name)
    return emit(text, output)
