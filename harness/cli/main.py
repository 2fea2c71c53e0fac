"""The `harness` command line. Only this module turns errors into exit codes and output."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from harness import __version__
from harness.errors import HarnessError, Refused, SpecError, UnsupportedError
from harness.history.compare import DEFAULT_TOLERANCE, CompareRule
from harness.judge.verdict import EXIT_CODES, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_REFUSED
from harness.result.gameday import is_gameday_folder

log = logging.getLogger("harness")

ONE_EXPERIMENT = "harness run takes one experiment; to run several as one check, use `harness gate a.yaml b.yaml`"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Chaos experiments with SLO evidence.")
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    parser.add_argument("--log-format", choices=("human", "json"), default="human")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    validate = sub.add_parser("validate", help="check experiment, load profile and SLO files")
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    plan = sub.add_parser("plan", help="print the timeline, faults and exact PromQL; changes nothing")
    plan.add_argument("file", type=Path)
    plan.add_argument("--cluster", action="store_true",
                      help="kubernetes: also aim every fault against the live cluster (read only) under the "
                           "blast-radius policy; a refusal is exit 2, an unreachable cluster exit 5")
    run = sub.add_parser("run", help="run one experiment and judge it")
    # several files are accepted here only to answer with a clear message instead of a usage error
    run.add_argument("files", nargs="+", type=Path, metavar="FILE")
    _run_options(run)
    demo = sub.add_parser("demo", help="run the bundled demo game day (gamedays/demo.yaml) on the local platform")
    demo.add_argument("--remediation", action="store_true",
                      help="the remediation pair instead (gamedays/remediation.yaml): a page that starts a runbook, "
                           "and its broken twin")
    _run_options(demo)
    gameday = sub.add_parser("gameday", help="run a game day: experiments in order, cooldowns, budget gate, reports")
    gameday.add_argument("file", type=Path, metavar="FILE", help="a kind: GameDay file")
    _run_options(gameday)
    gate = sub.add_parser("gate", help="run experiments as one CI gate: JUnit, Markdown, one exit code")
    gate.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="experiment files or folders")
    gate.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report here")
    gate.add_argument("--markdown", type=Path, metavar="FILE", help="write the Markdown summary here")
    gate.add_argument("--html", type=Path, metavar="FILE", help="write the HTML report (one self-contained file) here")
    gate.add_argument("--junit-flavour", choices=("default", "xunit2"), default="default",
                      help="xunit2: no file/line on testcases, for consumers that validate against junit-10.xsd")
    gate.add_argument("--allow-inconclusive", action="store_true",
                      help="INCONCLUSIVE runs warn (JUnit <skipped>) instead of failing the gate")
    _compare_options(gate)
    _run_options(gate)
    report = sub.add_parser("report", help="a report of a finished run or game day, from its folder alone")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR|GAMEDAY_DIR")
    report.add_argument("--format", choices=("markdown", "junit", "html", "postmortem"), default="markdown")
    report.add_argument("--output", type=Path, metavar="FILE", help="write here instead of stdout")
    report.add_argument("--junit-flavour", choices=("default", "xunit2"), default="default")
    report.add_argument("--allow-inconclusive", action="store_true")
    history = sub.add_parser("history", help="list the earlier runs of an experiment with their key figures")
    history.add_argument("experiment", metavar="EXPERIMENT", help="an experiment file, or an experiment's name")
    history.add_argument("--history", type=Path, default=Path("runs"), metavar="DIR",
                         help="the folder of run folders (default: runs)")
    history.add_argument("--limit", type=_positive_int, default=20, metavar="N", help="the newest N runs (default 20)")
    rules = sub.add_parser("rules", help="burn-rate recording and alerting rules, with promtool tests, from SLOs")
    rules.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="experiments, SLO files or folders")
    rules.add_argument("--windows", choices=("experiment", "production"), default="production",
                       help="production: the SRE workbook's windows; experiment: the same divided by 60")
    rules.add_argument("--output", type=Path, default=Path("rules"), metavar="DIR", help="default: rules/")
    rules.add_argument("--no-check", action="store_true", help="do not run promtool on what was written")
    runbook = sub.add_parser("runbook", help="runbooks: `harness runbook run FILE` runs one by hand")
    runbook_sub = runbook.add_subparsers(dest="runbook_command", required=True, metavar="ACTION")
    runbook_run = runbook_sub.add_parser("run", help="run a runbook's steps in order; the first failure stops it")
    runbook_run.add_argument("file", type=Path, metavar="FILE")
    worker = sub.add_parser("load-worker", help="a Locust worker on this machine for a run's load master elsewhere")
    worker.add_argument("experiment", type=Path, metavar="EXPERIMENT", help="the run's experiment file (same files)")
    worker.add_argument("--master", required=True, metavar="HOST:PORT", help="the run's load.master address")
    rollback = sub.add_parser("rollback", help="undo what a crashed run left behind")
    rollback.add_argument("run_dir", type=Path)
    return parser


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, default=Path("runs"), help="where run folders go (default runs/)")
    parser.add_argument("--stop-file", type=Path, help="kill switch: the run halts when this file appears")
    parser.add_argument("--quiet", action="store_true", help="no live progress")


class _HumanFormatter(logging.Formatter):
    """Plain lines for people; warnings and errors say so."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.WARNING:
            return text.replace(record.getMessage(), f"{record.levelname}: {record.getMessage()}", 1)
        return text


def _configure_logging(verbose: bool, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        from harness.logs import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_HumanFormatter("%(asctime)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("harness").setLevel(logging.INFO if verbose else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose, args.log_format)
    try:
        return _dispatch(args)
    except SpecError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print(f"invalid input: {len(err.problems)} problem(s); nothing was started", file=sys.stderr)
        return EXIT_INVALID
    except UnsupportedError as err:
        print(f"not supported yet: {err}", file=sys.stderr)
        return EXIT_INVALID
    except Refused as err:
        print(f"refused: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CODES["ERROR"]
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `harness history X | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    from harness.cli import commands, gameday_commands, gate_commands
    from harness.faults.types import load_plugins

    load_plugins()  # fault types of installed packages, before any file is read

    if args.command == "validate":
        return commands.validate(args.paths)
    if args.command == "plan":
        return commands.plan(args.file, args.cluster)
    if args.command == "run":
        if len(args.files) > 1:
            print(ONE_EXPERIMENT, file=sys.stderr)
            return EXIT_INVALID
        return commands.run(args.files[0], args.output, args.stop_file, args.quiet, args.verbose)
    if args.command == "demo":
        return gameday_commands.demo(args.output, args.stop_file, args.quiet, args.verbose, args.remediation)
    if args.command == "gameday":
        return gameday_commands.gameday(args.file, args.output, args.stop_file, args.quiet, args.verbose)
    if args.command == "gate":
        return _gate(args)
    if args.command == "report":
        if is_gameday_folder(args.run_dir):
            return gameday_commands.gameday_report(args.run_dir, args.format, args.output, args.allow_inconclusive,
                                                   args.junit_flavour)
        return gate_commands.report(args.run_dir, args.format, args.output, args.allow_inconclusive,
                                    args.junit_flavour)
    if args.command == "history":
        return gate_commands.history(args.experiment, args.history, args.limit)
    if args.command == "rules":
        from harness.cli import rules_commands

        return rules_commands.rules(args.paths, args.windows, args.output, not args.no_check)
    if args.command == "runbook":
        from harness.cli import runbook_commands

        return runbook_commands.run(args.file)
    if args.command == "load-worker":
        from harness.run.load_worker import load_worker

        return load_worker(args.experiment, args.master)
    if args.command == "rollback":
        return commands.rollback(args.run_dir)
    raise AssertionError(args.command)


def _gate(args: argparse.Namespace) -> int:
    from harness.cli import gate_commands

    if args.compare is not None and args.baseline is not None:
        raise SpecError(["harness gate: --compare and --baseline both choose the baseline: give one of them"])
    rule = None
    if args.compare is not None or args.baseline is not None:
        rule = CompareRule(count=args.compare or 1, pinned=args.baseline, tolerance=args.regression_tolerance,
                           warn_only=args.regression == "warn")
    return gate_commands.gate(gate_commands.GateArgs(
        args.paths, args.output, args.junit, args.markdown, args.html, args.junit_flavour, args.allow_inconclusive,
        args.stop_file, args.quiet, args.verbose, rule, args.history))


def _compare_options(gate: argparse.ArgumentParser) -> None:
    compare = gate.add_argument_group("comparison with earlier runs")
    compare.add_argument("--compare", type=_compare_count, metavar="last-pass|N",
                         help="compare each run with the last passing run of the same experiment version, or with "
                              "the median of the last N passing runs")
    compare.add_argument("--baseline", metavar="RUN_ID", help="compare with this one earlier run")
    compare.add_argument("--history", type=Path, metavar="DIR",
                         help="the folder of earlier runs (default: --output, where runs are written anyway)")
    compare.add_argument("--regression-tolerance", type=_tolerance, default=DEFAULT_TOLERANCE, metavar="PERCENT",
                         help="how much worse than the baseline a figure may be, relative (default 20%%; each "
                              "figure also has an absolute floor)")
    compare.add_argument("--regression", choices=("fail", "warn"), default="fail",
                         help="fail (default): a regression fails the gate; warn: it is reported only")


def _compare_count(text: str) -> int:
    if text == "last-pass":
        return 1
    if not text.lstrip("-").isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give last-pass or a number of runs, e.g. --compare 5")
    return _positive_int(text)


def _tolerance(text: str) -> float:
    try:
        value = float(text.removesuffix("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a relative tolerance like 20% or 0.2") from None
    if not 0 <= value <= 10:
        raise argparse.ArgumentTypeError(f"{text!r}: the tolerance must be between 0% and 1000%")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


if __name__ == "__main__":
    sys.exit(main())
