"""Running a gate: validate every file first, run each experiment in turn, write the reports for what ran.

Nothing here prints: the caller gets callbacks for live progress and a GateReport at the end. A
SIGINT or SIGTERM (a cancelled CI job) during a run halts it the way it halts any run (faults
reverted); between runs it stops the gate. Either way no further experiment starts, and the JUnit
and Markdown files are still written for what ran, the rest listed as not run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType

from harness.api import find_files, load_experiment, run_experiment, validate_file
from harness.errors import HarnessError, SpecError
from harness.gate.outcome import GateOutcome, gate_outcome
from harness.history.compare import CompareRule, Comparison, compare
from harness.history.store import read_history, record_in_history
from harness.plan import build_plan
from harness.reports.checks import Entry, interrupted
from harness.reports.github import error_annotations
from harness.reports.html import SeriesByRun, html_report
from harness.reports.junit import Flavour, junit_xml
from harness.reports.markdown import MAX_BYTES, gate_markdown
from harness.result.model import RunResult
from harness.result.series import load_series
from harness.run.progress import ProgressSink
from harness.run.runner import RunOptions
from harness.spec.gameday import is_gameday_file
from harness.spec.loader import LoadedExperiment
from harness.spec.source import DocumentError, read_all_documents

NOT_RUN_INTERRUPTED = "the gate was stopped before it started"


@dataclass(frozen=True)
class GateOutputs:
    junit: Path | None = None
    markdown: Path | None = None
    junit_flavour: Flavour = "default"
    html: Path | None = None

    def paths(self) -> list[tuple[str, Path]]:
        return [(flag, path) for flag, path in (("--junit", self.junit), ("--markdown", self.markdown),
                                                ("--html", self.html)) if path is not None]


@dataclass
class GateOptions:
    output: Path = Path("runs")
    outputs: GateOutputs = field(default_factory=GateOutputs)
    allow_inconclusive: bool = False
    stop_file: Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    on_start: Callable[[int, int, LoadedExperiment], None] | None = None
    """Called before experiment `index` (1-based) of `total` starts."""
    on_result: Callable[[int, int, RunResult], None] | None = None
    progress: Callable[[int, int], ProgressSink | None] | None = None
    """The live-progress sink for experiment `index` of `total` (None: no progress)."""
    progress_every_s: float = 5.0
    compare: CompareRule | None = None
    """Compare each run with a baseline from the history (None: no comparison)."""
    history: Path | None = None
    """The history folder (default: `output`, where the runs are written anyway)."""

    @property
    def history_folder(self) -> Path:
        return self.history if self.history is not None else self.output


@dataclass(frozen=True)
class GateReport:
    entries: tuple[Entry, ...]
    outcome: GateOutcome
    stopped: str | None
    """Why the gate stopped before its last experiment (a signal), or None."""
    written: tuple[Path, ...]
    annotations: tuple[str, ...]
    unwritten: tuple[str, ...] = ()
    """Reports that could not be written at the end, and why."""


def prepare_gate(paths: Sequence[Path], outputs: GateOutputs, stop_file: Path | None = None,
                 history: tuple[Path, CompareRule] | None = None) -> list[LoadedExperiment]:
    """Every experiment under these paths, validated and planned, and every other file validated too:
    SpecError lists every problem of every file at once (and of the output paths), before anything runs."""
    files, problems = find_files(paths)
    experiments: list[LoadedExperiment] = []
    for path in files:
        try:
            if _is_experiment(path):
                loaded = load_experiment(path)
                build_plan(loaded)
                experiments.append(loaded)
            else:
                validate_file(path)
        except SpecError as err:
            problems.extend(err.problems)
    problems += output_problems(outputs)
    if stop_file is not None and stop_file.exists():
        problems.append(f"--stop-file {stop_file} already exists: remove it first, or the gate would halt at once")
    if history is not None:
        problems += history_problems(*history, names={loaded.name for loaded in experiments})
    if not experiments and not problems:
        days = [str(path) for path in files if is_gameday_file(path)]
        hint = f" ({', '.join(days)}: a game day, run with `harness gameday FILE`)" if days else ""
        problems.append(f"{', '.join(str(p) for p in paths)}: no experiment (kind: Experiment) to run{hint}")
    names: dict[str, Path] = {}
    for loaded in experiments:
        earlier = names.setdefault(loaded.name, loaded.path)
        if earlier != loaded.path:
            problems.append(f"{loaded.path}: metadata.name {loaded.name!r} is also the name of {earlier}: "
                            "a gate tells its experiments apart by name (JUnit suites, history): rename one")
    if problems:
        raise SpecError(problems)
    return experiments


def history_problems(folder: Path, rule: CompareRule, names: set[str]) -> list[str]:
    """A history that cannot be read, or a pinned baseline it does not hold, found before anything runs."""
    found = read_history(folder)
    problems = [f"--history {folder}: {problem}" for problem in found.problems]
    if rule.pinned is not None:
        pinned = found.find(rule.pinned)
        if pinned is None:
            problems.append(f"--baseline {rule.pinned}: no finished run with this id in --history {folder} "
                            "(`harness history EXPERIMENT` lists the runs there)")
        elif names and pinned.experiment not in names:
            problems.append(f"--baseline {rule.pinned}: a run of {pinned.experiment!r}, which is not among the "
                            f"experiments of this gate ({', '.join(sorted(names))})")
    return problems


def output_problems(outputs: GateOutputs) -> list[str]:
    """What keeps a report from being written, found before anything runs: by trying (permission bits
    say nothing for root, and /proc or a read-only mount refuse files whatever they say)."""
    problems = []
    for flag, path in outputs.paths():
        if path.is_dir():
            problems.append(f"{flag} {path}: is a folder: give a file name, e.g. {path / _example(flag)}")
        elif (why := _unwritable(path)) is not None:
            problems.append(f"{flag} {path}: cannot be written ({why})")
    return problems


def _example(flag: str) -> str:
    return {"--junit": "junit.xml", "--markdown": "summary.md", "--html": "report.html"}.get(flag, "report")


def _unwritable(path: Path) -> str | None:
    try:
        if path.exists():
            with path.open("a", encoding="utf-8"):
                return None
        existing = next(p for p in path.parents if p.exists())
        if not existing.is_dir():
            return f"{existing} is not a folder"
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".harness-probe-"):
            return None
    except OSError as err:
        return err.strerror or str(err)


def run_gate(experiments: Sequence[LoadedExperiment], options: GateOptions) -> GateReport:
    """Run each experiment in turn; stop starting new ones once one was interrupted by a signal."""
    total = len(experiments)
    entries: list[Entry] = []
    stopped: str | None = None
    with stop_between_runs() as between:
        for index, loaded in enumerate(experiments, start=1):
            stopped = stopped or between.reason or kill_switch(options.stop_file)
            if stopped is not None:
                entries.append(Entry(loaded.name, shown_path(loaded.path), None, f"{NOT_RUN_INTERRUPTED} ({stopped})"))
                continue
            try:
                result = _run_one(index, total, loaded, options)
            except HarnessError as err:  # one experiment that cannot run must not lose the others' reports
                entries.append(Entry(loaded.name, shown_path(loaded.path), None, f"could not run: {err}"))
                continue
            entries.append(Entry(loaded.name, shown_path(loaded.path), result, comparison=_compare(result, options)))
            if interrupted(result):
                stopped = result.halted
    regressions = sum(1 for e in entries if e.comparison is not None and e.comparison.regressions)
    outcome = gate_outcome([entry.verdict for entry in entries], options.allow_inconclusive, regressions,
                           options.compare is not None and options.compare.warn_only)
    unwritten: list[str] = []
    written = write_outputs(entries, outcome, options, unwritten)
    github = options.environ.get("GITHUB_ACTIONS") == "true"
    return GateReport(tuple(entries), outcome, stopped, tuple(written),
                      tuple(error_annotations(entries)) if github else (), tuple(unwritten))


def kill_switch(stop_file: Path | None) -> str | None:
    if stop_file is not None and stop_file.exists():
        return f"kill switch: stop file {stop_file} appeared"
    return None


def _compare(result: RunResult, options: GateOptions) -> Comparison | None:
    """The run against its baseline; the history is read again (another job may have added runs), and
    a file that turned unreadable since the gate started is a warning, never a reason to lose the run."""
    if options.compare is None:
        return None
    folder = options.history_folder
    found = read_history(folder)
    if folder.resolve() != options.output.resolve():
        record_in_history(result, folder)
    comparison = compare(result, found.runs, options.compare)
    warnings = tuple(f"history: {problem} (left out of the comparison)" for problem in found.problems)
    return replace(comparison, notes=comparison.notes + warnings)


def _run_one(index: int, total: int, loaded: LoadedExperiment, options: GateOptions) -> RunResult:
    if options.on_start is not None:
        options.on_start(index, total, loaded)
    sink = options.progress(index, total) if options.progress is not None else None
    run_options = RunOptions(output=options.output, stop_file=options.stop_file, progress=sink,
                             progress_every_s=options.progress_every_s)
    result = run_experiment(loaded, run_options)
    if options.on_result is not None:
        options.on_result(index, total, result)
    return result


def write_outputs(entries: Sequence[Entry], outcome: GateOutcome, options: GateOptions,
                  failed: list[str] | None = None) -> list[Path]:
    """Every report asked for; one that cannot be written goes into `failed` and the others are written."""
    outputs, failures = options.outputs, failed if failed is not None else []
    texts: list[tuple[str, Path, Callable[[], str]]] = []
    markdown = gate_markdown(entries, outcome.headline, outcome.verdict)
    if outputs.junit is not None:
        texts.append(("--junit", outputs.junit, lambda: junit_xml(
            entries, allow_inconclusive=options.allow_inconclusive, flavour=outputs.junit_flavour,
            commit=git_commit(entries, options.environ))))
    if outputs.markdown is not None:
        texts.append(("--markdown", outputs.markdown, lambda: markdown))
    if outputs.html is not None:
        texts.append(("--html", outputs.html, lambda: html_report(entries, load_all_series(entries),
                                                                   outcome.headline, outcome.verdict)))
    written = [path for flag, target, text in texts if (path := _try_write(target, text(), flag, failures))]
    summary = options.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            written += _append_summary(Path(summary), markdown)
        except OSError as err:
            failures.append(f"GITHUB_STEP_SUMMARY {summary}: could not be appended to: {err.strerror or err}")
    return written


def _append_summary(path: Path, markdown: str) -> list[Path]:
    size = path.stat().st_size if path.is_file() else 0
    if size + len(markdown.encode()) > MAX_BYTES:
        return []
    with path.open("a", encoding="utf-8") as out:
        out.write(markdown + "\n")
    return [path]


def load_all_series(entries: Sequence[Entry]) -> SeriesByRun:
    """The captured series of every run by run id, or why it has none (a report says so)."""
    return {entry.result.run_id: load_series(Path(entry.result.run_dir)) if entry.result.run_dir
            else (None, "the result names no run folder") for entry in entries if entry.result is not None}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _try_write(path: Path, text: str, flag: str, failed: list[str]) -> Path | None:
    """A report that cannot be written at the end (the disk filled up) is said, and the others are still
    written: the runs' verdicts are known and must not be lost to a traceback."""
    try:
        return _write(path, text)
    except OSError as err:
        failed.append(f"{flag} {path}: could not be written: {err.strerror or err}")
        return None


def shown_path(path: Path) -> str:
    """A path as CI tools resolve it: relative to the working folder (the checkout) when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def git_commit(entries: Sequence[Entry], environ: Mapping[str, str]) -> str | None:
    """The commit under test: GITHUB_SHA / CI_COMMIT_SHA when CI gives it, else the experiments' checkout."""
    for name in ("GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT"):
        if environ.get(name):
            return environ[name]
    folder = Path(entries[0].file).resolve().parent if entries else Path.cwd()
    try:
        done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _is_experiment(path: Path) -> bool:
    try:
        documents = read_all_documents(path)
    except DocumentError:
        return False  # validate_file reports it
    first = documents[0].data if documents else None
    return isinstance(first, dict) and first.get("kind") == "Experiment"


class BetweenRuns:
    """SIGINT/SIGTERM while no run is in progress: remember it, and start no further experiment (a run in
    progress installs its own handlers, which halt that run and revert its faults)."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        self.reason = self.reason or f"interrupted by {signal.Signals(signum).name}"


@contextmanager
def stop_between_runs() -> Iterator[BetweenRuns]:
    between = BetweenRuns()
    if threading.current_thread() is not threading.main_thread():
        yield between
        return
    previous = {sig: signal.signal(sig, between.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield between
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
