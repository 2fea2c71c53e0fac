"""The `harness` command line. Only this module turns errors into exit codes and output."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from harness import __version__
from harness.errors import HarnessError, SpecError, UnsupportedError
from harness.judge.verdict import EXIT_CODES, EXIT_INTERRUPTED, EXIT_INVALID

log = logging.getLogger("harness")

ONE_EXPERIMENT = "harness run takes one experiment; to run several as one check, use `harness gate a.yaml b.yaml`"
NOT_BUILT_FLAGS = {"html": "--html (the HTML report)", "compare": "--compare (history comparison)",
                   "baseline": "--baseline (history comparison)", "history": "--history (history comparison)"}


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
    run = sub.add_parser("run", help="run one experiment and judge it")
    # several files are accepted here only to answer with a clear message instead of a usage error
    run.add_argument("files", nargs="+", type=Path, metavar="FILE")
    _run_options(run)
    demo = sub.add_parser("demo", help="run the bundled demo game day on the local platform")
    _run_options(demo)
    gate = sub.add_parser("gate", help="run experiments as one CI gate: JUnit, Markdown, one exit code")
    gate.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="experiment files or folders")
    gate.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report here")
    gate.add_argument("--markdown", type=Path, metavar="FILE", help="write the Markdown summary here")
    gate.add_argument("--junit-flavour", choices=("default", "xunit2"), default="default",
                      help="xunit2: no file/line on testcases, for consumers that validate against junit-10.xsd")
    gate.add_argument("--allow-inconclusive", action="store_true",
                      help="INCONCLUSIVE runs warn (JUnit <skipped>) instead of failing the gate")
    for flag in NOT_BUILT_FLAGS:
        gate.add_argument(f"--{flag}", help=argparse.SUPPRESS)
    _run_options(gate)
    report = sub.add_parser("report", help="a report of a finished run, from its folder alone")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    report.add_argument("--format", choices=("markdown", "junit", "html"), default="markdown")
    report.add_argument("--output", type=Path, metavar="FILE", help="write here instead of stdout")
    report.add_argument("--junit-flavour", choices=("default", "xunit2"), default="default")
    report.add_argument("--allow-inconclusive", action="store_true")
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
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CODES["ERROR"]
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _dispatch(args: argparse.Namespace) -> int:
    from harness.cli import commands, gate_commands
    from harness.faults.types import load_plugins

    load_plugins()  # fault types of installed packages, before any file is read

    if args.command == "validate":
        return commands.validate(args.paths)
    if args.command == "plan":
        return commands.plan(args.file)
    if args.command == "run":
        if len(args.files) > 1:
            print(ONE_EXPERIMENT, file=sys.stderr)
            return EXIT_INVALID
        return commands.run(args.files[0], args.output, args.stop_file, args.quiet, args.verbose)
    if args.command == "demo":
        return commands.demo(args.output, args.stop_file, args.quiet, args.verbose)
    if args.command == "gate":
        return _gate(args)
    if args.command == "report":
        return gate_commands.report(args.run_dir, args.format, args.output, args.allow_inconclusive,
                                    args.junit_flavour)
    if args.command == "rollback":
        return commands.rollback(args.run_dir)
    raise AssertionError(args.command)


def _gate(args: argparse.Namespace) -> int:
    from harness.cli import gate_commands

    unbuilt = [NOT_BUILT_FLAGS[flag] for flag in NOT_BUILT_FLAGS if getattr(args, flag) is not None]
    if unbuilt:
        raise SpecError([f"harness gate: {', '.join(unbuilt)} {gate_commands.NOT_BUILT}; nothing was started"])
    return gate_commands.gate(gate_commands.GateArgs(
        args.paths, args.output, args.junit, args.markdown, args.junit_flavour, args.allow_inconclusive,
        args.stop_file, args.quiet, args.verbose))


if __name__ == "__main__":
    sys.exit(main())
