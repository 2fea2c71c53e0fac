"""The history: a folder of run folders, each with its result.json (the gate's `--output` by default).

Files that are not readable run results are named, never silently skipped: before a gate starts
they stop it (exit 2); found later they are warnings and the run is still judged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from harness.result import RESULT_NAME, RunResult, write_run_result
from harness.result.model import RESULT_API_VERSION

MAX_DEPTH = 3  # runs/<run>/result.json, and runs/<gameday>/<run>/result.json


@dataclass(frozen=True)
class History:
    folder: Path
    runs: tuple[RunResult, ...]
    """Finished runs (with a verdict), oldest first."""
    problems: tuple[str, ...] = ()
    """Files that look like run results and are not: corrupt, or written by something else."""

    def find(self, run_id: str) -> RunResult | None:
        return next((run for run in self.runs if run.run_id == run_id), None)

    def of(self, experiment: str) -> list[RunResult]:
        return [run for run in self.runs if run.experiment == experiment]


def read_history(folder: Path) -> History:
    """Every finished run under folder; a folder that does not exist yet is an empty history."""
    runs: list[RunResult] = []
    problems: list[str] = []
    if not folder.is_dir():
        return History(folder, ())
    for path in sorted(_result_files(folder)):
        run, problem = _read(path)
        if problem is not None:
            problems.append(problem)
        elif run is not None and run.verdict is not None:
            runs.append(run)
    runs.sort(key=lambda run: (run.started or 0.0, run.run_id))
    return History(folder, tuple(runs), tuple(problems))


def _result_files(folder: Path) -> list[Path]:
    found = []
    for depth in range(1, MAX_DEPTH):
        found += [p for p in folder.glob("/".join(["*"] * depth) + f"/{RESULT_NAME}") if p.is_file()]
    return found


def _read(path: Path) -> tuple[RunResult | None, str | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"{path}: not a readable result file ({_first_line(err)}): move it out of the history or fix it"
    if not isinstance(data, dict) or data.get("kind", "RunResult") != "RunResult" or \
            data.get("apiVersion", RESULT_API_VERSION) != RESULT_API_VERSION:
        kind = data.get("kind") if isinstance(data, dict) else type(data).__name__
        return None, (f"{path}: not a run result of this harness (kind {kind!r}, apiVersion "
                      f"{data.get('apiVersion') if isinstance(data, dict) else None!r}): move it out of the history")
    try:
        return RunResult.model_validate(data), None
    except ValidationError as err:
        return None, f"{path}: not a valid run result ({_first_line(err)}): move it out of the history or fix it"


def _first_line(err: Exception) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    return " ".join(lines[:3])[:200]


def record_in_history(result: RunResult, folder: Path) -> Path:
    """Keep a copy of a run's result in a history folder other than the one the run wrote to."""
    return write_run_result(result, folder / result.run_id)
