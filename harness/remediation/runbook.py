"""Running a runbook: its steps in order, each bounded in time; the first step that fails stops it.

The same code runs a runbook by hand (`harness runbook run`) and from an alert. What is recorded
and logged is each step's name, kind, times and outcome: never a URL's query string, a header, a
command's output or any other value that may carry a secret.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import requests

from harness.errors import FaultError, HarnessError, SpecError
from harness.faults.calls import run_activity, shown_url
from harness.faults.verify import check
from harness.prom.client import PromClient
from harness.spec.faults import FaultVerify
from harness.spec.loader import load_runbook
from harness.spec.runbook import ChaosToolkitStep, CommandStep, HttpStep, RunbookStep, WaitForStep

log = logging.getLogger(__name__)

StepResult = Literal["ok", "failed", "timed out", "cancelled"]
_POLL_S = 0.1


@dataclass(frozen=True)
class StepOutcome:
    name: str
    kind: str
    started: float
    ended: float
    result: StepResult
    detail: str


@dataclass(frozen=True)
class RunbookOutcome:
    runbook: str
    trigger: str
    started: float
    ended: float
    steps: tuple[StepOutcome, ...]
    ok: bool
    reason: str

    @property
    def failed_step(self) -> StepOutcome | None:
        return next((s for s in self.steps if s.result != "ok"), None)


@dataclass
class RunbookContext:
    """What a runbook runs with: the platform's variables, its Prometheus, a clock and a cancel switch."""

    variables: Mapping[str, str] = field(default_factory=dict)
    prometheus_url: str | None = None
    cwd: Path = field(default_factory=Path.cwd)
    clock: Callable[[], float] = time.time
    cancel: threading.Event = field(default_factory=threading.Event)
    on_step: Callable[[StepOutcome], None] | None = None


class _Cancelled(Exception):
    pass


def run_runbook(path: Path, trigger: str, ctx: RunbookContext) -> RunbookOutcome:
    """Run every step of the runbook at `path` (re-read now, with the platform's variables)."""
    started = ctx.clock()
    try:
        runbook = load_runbook(path, {**os.environ, **ctx.variables}).runbook
    except SpecError as err:
        return RunbookOutcome(str(path), trigger, started, ctx.clock(), (), False,
                              f"the runbook is invalid: {'; '.join(err.problems)}")
    log.info("runbook %s started (%s)", runbook.metadata.name, trigger)
    steps: list[StepOutcome] = []
    for step in runbook.steps:
        outcome = _run_step(step, ctx)
        steps.append(outcome)
        if ctx.on_step is not None:
            ctx.on_step(outcome)
        log.info("runbook %s step %r (%s): %s after %.1fs%s", runbook.metadata.name, step.name, step.kind,
                 outcome.result, outcome.ended - outcome.started, f": {outcome.detail}" if outcome.detail else "")
        if outcome.result != "ok":
            reason = f"step {step.name!r} ({step.kind}) {outcome.result}: {outcome.detail}"
            return RunbookOutcome(runbook.metadata.name, trigger, started, ctx.clock(), tuple(steps), False, reason)
    return RunbookOutcome(runbook.metadata.name, trigger, started, ctx.clock(), tuple(steps), True,
                          f"all {len(steps)} step(s) ran")


def _run_step(step: RunbookStep, ctx: RunbookContext) -> StepOutcome:
    started = ctx.clock()
    result: StepResult
    try:
        if ctx.cancel.is_set():
            raise _Cancelled()
        result, detail = _dispatch(step, ctx)
    except _Cancelled:
        result, detail = "cancelled", "the run ended before this step finished"
    except HarnessError as err:
        result, detail = "failed", str(err)
    return StepOutcome(step.name, step.kind, started, ctx.clock(), result, detail)


def _dispatch(step: RunbookStep, ctx: RunbookContext) -> tuple[StepResult, str]:
    if step.http is not None:
        return _http(step.http)
    if step.command is not None:
        return _command(step.command, ctx)
    if step.wait_for is not None:
        return _wait_for(step.wait_for, ctx)
    assert isinstance(step.chaostoolkit, ChaosToolkitStep)
    try:
        return "ok", run_activity(step.chaostoolkit.activity, f"step {step.name!r}")
    except FaultError as err:
        return "failed", str(err)


def _http(call: HttpStep) -> tuple[StepResult, str]:
    shown = f"{call.method} {shown_url(call.url)}"
    try:
        response = requests.request(call.method, call.url, headers=call.headers, json=call.body,
                                    timeout=call.timeout)
    except requests.Timeout:
        return "timed out", f"{shown}: no answer within {call.timeout:g}s"
    except requests.RequestException as err:
        return "failed", f"{shown}: {type(err).__name__}"
    if response.status_code not in call.expect_status:
        return "failed", f"{shown} answered HTTP {response.status_code}, expected one of {list(call.expect_status)}"
    return "ok", f"{shown} → HTTP {response.status_code}"


def _command(command: CommandStep, ctx: RunbookContext) -> tuple[StepResult, str]:
    program = command.argv[0]
    try:
        proc = subprocess.Popen(list(command.argv), cwd=ctx.cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as err:
        return "failed", f"{program}: cannot start it ({err.strerror})"
    deadline = time.monotonic() + command.timeout
    while proc.poll() is None:
        if ctx.cancel.is_set() or time.monotonic() >= deadline:
            proc.kill()
            proc.wait()
            if ctx.cancel.is_set():
                raise _Cancelled()
            return "timed out", f"{program} did not finish within {command.timeout:g}s (killed)"
        time.sleep(_POLL_S)
    # the output is not kept: a command run with a token may print it
    if proc.returncode != 0:
        return "failed", f"{program} exited with {proc.returncode}"
    return "ok", f"{program} exited 0"


def _wait_for(wait: WaitForStep, ctx: RunbookContext) -> tuple[StepResult, str]:
    if not ctx.prometheus_url:
        return "failed", "no Prometheus to evaluate the condition (set PROMETHEUS_URL)"
    client = PromClient(ctx.prometheus_url, timeout_s=min(5.0, wait.within), retries=0)

    def sleep(seconds: float) -> None:
        if ctx.cancel.wait(min(seconds, wait.every)):
            raise _Cancelled()

    try:
        condition = FaultVerify.model_construct(query=wait.query, probe=None, within=wait.within)  # validated already
        outcome = check(condition, client.query, ctx.clock, sleep)
    finally:
        client.close()
    text = outcome.observed.replace("verify query", "condition")
    return ("ok", text) if outcome.took_effect else ("timed out", text)
