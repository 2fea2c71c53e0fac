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

ONE_EXPERIMENT = ("harness run takes one experiment; to run several, use `harness gate a.yaml b.yaml` "
                  "(not built yet in this version: run them one at a time)")


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
    from harness.cli import commands
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
    if args.command == "rollback":
        return commands.rollback(args.run_dir)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
