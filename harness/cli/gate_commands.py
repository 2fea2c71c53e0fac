"""`harness gate` and `harness report`: the CI gate over many experiments, and reports from a run folder."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from harness.api import load_result
from harness.cli.commands import progress_every, progress_sink
from harness.errors import SpecError
from harness.gate.run import GateOptions, GateOutputs, output_problems, prepare_gate, run_gate, shown_path
from harness.reports.checks import Entry
from harness.reports.console import summary
from harness.reports.junit import Flavour, junit_xml
from harness.reports.markdown import gate_markdown
from harness.result import RESULT_NAME
from harness.result.model import RunResult
from harness.run.progress import ProgressSink
from harness.spec.loader import LoadedExperiment

REPORT_FORMATS = ("markdown", "junit", "html")
NOT_BUILT = "is not built yet in this version"


@dataclass(frozen=True)
class GateArgs:
    paths: list[Path]
    output: Path
    junit: Path | None
    markdown: Path | None
    junit_flavour: Flavour
    allow_inconclusive: bool
    stop_file: Path | None
    quiet: bool
    verbose: bool


def gate(args: GateArgs) -> int:
    outputs = GateOutputs(args.junit, args.markdown, args.junit_flavour)
    experiments = prepare_gate(args.paths, outputs, args.stop_file)
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
        on_start=on_start, on_result=on_result, progress=progress, progress_every_s=progress_every()))
    print("\ngate:")
    for entry in report.entries:
        print(f"  {entry.name}: {entry.verdict or 'NOT RUN'}" + (f" ({entry.not_run})" if entry.not_run else ""))
    print(f"  {report.outcome.headline}")
    if report.stopped:
        print(f"  stopped early: {report.stopped}; the experiments after it were not started")
    for path in report.written:
        print(f"  wrote {path}")
    for line in report.annotations:
        print(line)
    return report.outcome.exit_code


def report(run_dir: Path, fmt: str, output: Path | None, allow_inconclusive: bool, flavour: Flavour) -> int:
    """A report of one finished run, from its folder alone (result.json)."""
    if fmt == "html":
        raise SpecError([f"--format html: the HTML report {NOT_BUILT}; use markdown or junit"])
    if output is not None and (problems := output_problems(GateOutputs(markdown=output))):
        raise SpecError([p.replace("--markdown", "--output") for p in problems])
    result = load_result(run_dir)
    file = result.source.file if result.source is not None else result.experiment
    entries = [Entry(result.experiment, shown_path(Path(file)), result)]
    if fmt == "junit":
        text = junit_xml(entries, allow_inconclusive=allow_inconclusive, flavour=flavour, name=result.experiment)
    else:
        text = gate_markdown(entries, f"run `{result.run_id}`: {result.reason or result.verdict}",
                             str(result.verdict), title=result.experiment)
    if output is None:
        sys.stdout.write(text)
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}", file=sys.stderr)
    return 0
