"""`harness gate` and `harness report`: the CI gate over many experiments, and reports from a run folder."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from harness.api import FILE_SUFFIXES, load_experiment, load_result
from harness.cli.commands import progress_every, progress_sink
from harness.errors import SpecError
from harness.gate.run import (
    GateOptions,
    GateOutputs,
    output_problems,
    prepare_gate,
    run_gate,
    shown_path,
)
from harness.history.compare import CompareRule, Comparison
from harness.history.store import read_history
from harness.judge.verdict import EXIT_CODES
from harness.reports.checks import Entry
from harness.reports.console import summary
from harness.reports.figures import figure_value, num, pct
from harness.reports.html import html_report
from harness.reports.junit import Flavour, junit_xml
from harness.reports.markdown import gate_markdown
from harness.reports.postmortem import postmortem
from harness.result import RESULT_NAME
from harness.result.model import RunResult
from harness.result.series import load_series
from harness.run.progress import ProgressSink
from harness.spec.loader import LoadedExperiment

REPORT_FORMATS = ("markdown", "junit", "html", "postmortem")


@dataclass(frozen=True)
class GateArgs:
    paths: list[Path]
    output: Path
    junit: Path | None
    markdown: Path | None
    html: Path | None
    junit_flavour: Flavour
    allow_inconclusive: bool
    stop_file: Path | None
    quiet: bool
    verbose: bool
    compare: CompareRule | None = None
    history: Path | None = None


def gate(args: GateArgs) -> int:
    outputs = GateOutputs(args.junit, args.markdown, args.junit_flavour, args.html)
    history = args.history if args.history is not None else args.output
    experiments = prepare_gate(args.paths, outputs, args.stop_file,
                               (history, args.compare) if args.compare is not None else None)
    print(f"gate: {len(experiments)} experiment(s), validated: "
          f"{', '.join(loaded.name for loaded in experiments)}", file=sys.stderr)

    def on_start(index: int, total: int, loaded: LoadedExperiment) -> None:
        print(f"\n== experiment {index} of {total}: {loaded.name} ({shown_path(loaded.path)}) on platform "
              f"{loaded.experiment.target.platform} ==", file=sys.stderr)

    def on_result(index: int, total: int, result: RunResult) -> None:
        summary(result, full_reasons=args.verbose)
        print(f"  result: {Path(result.run_dir or '.') / RESULT_NAME}")
        print(f"gate: experiment {index} of {total} done: {result.verdict}", file=sys.stderr)

    def progress(index: int, total: int) -> ProgressSink | None:
        return progress_sink(args.quiet, prefix=f"[{index}/{total}] ")

    report = run_gate(experiments, GateOptions(
        output=args.output, outputs=outputs, allow_inconclusive=args.allow_inconclusive, stop_file=args.stop_file,
        on_start=on_start, on_result=on_result, progress=progress, progress_every_s=progress_every(),
        compare=args.compare, history=args.history))
    print("\ngate:")
    for entry in report.entries:
        print(f"  {entry.name}: {entry.verdict or 'NOT RUN'}" + (f" ({entry.not_run})" if entry.not_run else ""))
        if entry.comparison is not None:
            for line in comparison_lines(entry.comparison):
                print(f"    {line}")
    print(f"  {report.outcome.headline}")
    if report.stopped:
        print(f"  stopped early: {report.stopped}; the experiments after it were not started")
    for path in report.written:
        print(f"  wrote {path}")
    for line in report.annotations:
        print(line)
    for problem in report.unwritten:
        print(f"error: {problem}", file=sys.stderr)
    if report.unwritten and report.outcome.exit_code == 0:
        return EXIT_CODES["ERROR"]  # a passing gate whose reports are missing must not look green
    return report.outcome.exit_code


def report(run_dir: Path, fmt: str, output: Path | None, allow_inconclusive: bool, flavour: Flavour) -> int:
    """A report of one finished run, from its folder alone (result.json)."""
    if output is not None and (problems := output_problems(GateOutputs(markdown=output))):
        raise SpecError([p.replace("--markdown", "--output") for p in problems])
    result = load_result(run_dir)
    file = result.source.file if result.source is not None else result.experiment
    entries = [Entry(result.experiment, shown_path(Path(file)), result)]
    if fmt == "html":
        folder = run_dir if run_dir.is_dir() else run_dir.parent  # the folder given, wherever the run wrote it
        text = html_report(entries, {result.run_id: load_series(folder)}, f"run {result.run_id}: "
                           f"{result.reason or result.verdict}", str(result.verdict), title=result.experiment)
    elif fmt == "postmortem":
        folder = run_dir if run_dir.is_dir() else run_dir.parent
        text = postmortem(result, load_series(folder)[0])
    elif fmt == "junit":
        text = junit_xml(entries, allow_inconclusive=allow_inconclusive, flavour=flavour, name=result.experiment)
    else:
        text = gate_markdown(entries, f"run `{result.run_id}`: {result.reason or result.verdict}",
                             str(result.verdict), title=result.experiment)
    return emit(text, output)


def emit(text: str, output: Path | None) -> int:
    """A report to stdout, or to --output (checked first: a clear message, never a traceback)."""
    if output is None:
        sys.stdout.write(text)
        return 0
    if problems := output_problems(GateOutputs(markdown=output)):
        raise SpecError([p.replace("--markdown", "--output") for p in problems])
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as err:
        raise SpecError([f"--output {output}: could not be written: {err.strerror or err}"]) from None
    print(f"wrote {output}", file=sys.stderr)
    return 0


def comparison_lines(comparison: Comparison) -> list[str]:
    """The comparison as console lines: the baseline, then each figure with the baseline value beside it."""
    if comparison.no_baseline is not None:
        return [f"no baseline: {comparison.no_baseline}", *comparison.notes]
    lines = [f"against {comparison.baseline}:"]
    for figure in comparison.figures:
        mark = "REGRESSION" if figure.regression else "ok"
        lines.append(f"  {mark:10} {figure.label}: {figure_value(figure.kind, figure.now)} "
                     f"(baseline {figure_value(figure.kind, figure.baseline)})")
    return lines + list(comparison.notes)


def history(experiment: str, folder: Path, limit: int) -> int:
    """The earlier runs of an experiment (a file, or its name), newest first, with their key figures."""
    name, fingerprint = experiment, None
    path = Path(experiment)
    if path.suffix in FILE_SUFFIXES or path.exists():
        loaded = load_experiment(path)  # SpecError (exit 2) for a file that does not exist or is invalid
        name, fingerprint = loaded.name, loaded.fingerprint()
    found = read_history(folder)
    for problem in found.problems:
        print(f"warning: {problem}", file=sys.stderr)
    runs = found.of(name)[::-1][:limit]
    if not runs:
        known = sorted({run.experiment for run in found.runs})
        print(f"no finished runs of {name} in {folder}"
              + (f" (it has runs of: {', '.join(known)})" if known else ""))
        return 0
    print(f"{len(runs)} run(s) of {name} in {folder}, newest first"
          + ("; * = another version of the experiment (not compared)" if fingerprint else ""))
    for run in runs:
        same = fingerprint is None or (run.source is not None and run.source.fingerprint == fingerprint)
        print(f"{'' if same else '* '}{run.run_id}  {run.verdict}  {_figures(run)}")
    return 0


def _figures(run: RunResult) -> str:
    parts = []
    for slo in run.slos:
        slis = " ".join(f"{phase} {pct(p.sli, 2)}" for phase, p in slo.judged_phases.items())
        parts.append(f"{slo.name}: {slis}; budget {pct(slo.budget_consumed, 4)}; peak burn {num(slo.peak_burn_rate)}")
    return " | ".join(parts) or run.reason
