"""`harness gameday FILE`: the experiments in order into one game day folder, with the checks between them.

Before each experiment: the kill switch and signals (none starts after an interruption), the
cooldown (at least `cooldown`, then until the previous experiment's SLOs are back at objective on
its own Prometheus, at most `steady_state_timeout`), the time window and the budget gate. Each run
reverts its own faults on every path; the day writes gameday.json and its reports on every path too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness.api import run_experiment
from harness.errors import HarnessError, Refused, SpecError
from harness.gameday.checks import budget_checks, client_for, failed, steady_state, wait_for_steady_state
from harness.gameday.outcome import REFUSED_PREFIX, gameday_outcome
from harness.gameday.reports import write_reports
from harness.gameday.window import closed_message, is_open, too_long_message
from harness.gate.run import BetweenRuns, kill_switch, shown_path, stop_between_runs
from harness.plan import build_plan
from harness.reports.checks import interrupted
from harness.result.gameday import BudgetCheck, CooldownRecord, GameDayResult, GameDayRun, Participants, write_gameday
from harness.result.model import RunResult
from harness.run.progress import ProgressSink
from harness.run.runner import RunOptions, new_run_dir
from harness.spec.gameday import LoadedGameDay
from harness.spec.loader import LoadedExperiment

TICK_S = 0.25  # how often a cooldown looks at signals and the kill switch


@dataclass
class GameDayOptions:
    output: Path = Path("runs")
    stop_file: Path | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    on_start: Callable[[int, int, LoadedExperiment, str], None] | None = None
    """Called before experiment `index` (1-based) of `total` starts, with its designed verdict."""
    on_result: Callable[[int, int, GameDayRun, RunResult | None], None] | None = None
    on_wait: Callable[[str], None] | None = None
    """Progress of what happens between experiments (cooldown, steady state, budget gate)."""
    progress: Callable[[int, int], ProgressSink | None] | None = None
    progress_every_s: float = 5.0


@dataclass
class _Day:
    loaded: LoadedGameDay
    folder: Path
    options: GameDayOptions
    between: BetweenRuns
    runs: list[GameDayRun] = field(default_factory=list)
    budget: list[BudgetCheck] = field(default_factory=list)
    cooldowns: list[CooldownRecord] = field(default_factory=list)
    stopped: str | None = None

    def say(self, text: str) -> None:
        if self.options.on_wait is not None:
            self.options.on_wait(text)

    def halted(self) -> str | None:
        return self.between.reason or kill_switch(self.options.stop_file)


def refuse_outside_window(loaded: LoadedGameDay, now: datetime) -> None:
    """Nothing starts outside the window (a cron that fired late), nor when the first experiment would run
    past its end: Refused, with the next opening."""
    window = loaded.gameday.window
    if window is not None and not is_open(window, now):
        raise Refused(f"{loaded.path}: {closed_message(window, now)}; nothing was started")
    if window is not None and (late := too_long_message(window, now, build_plan(loaded.experiments[0]).expected_s)):
        raise Refused(f"{loaded.path}: {late}; nothing was started")


def run_gameday(loaded: LoadedGameDay, options: GameDayOptions) -> GameDayResult:
    if options.stop_file is not None and options.stop_file.exists():
        raise SpecError([f"--stop-file {options.stop_file} already exists: remove it first, or the game day would "
                         "stop at once (nothing was started)"])
    refuse_outside_window(loaded, options.now())
    gameday_id, folder = new_run_dir(RunOptions(output=options.output), loaded.name, options.clock())
    folder.mkdir(parents=True, exist_ok=True)
    started = options.clock()
    with stop_between_runs() as between:
        day = _Day(loaded, folder, options, between)
        total = len(loaded.experiments)
        for index, experiment in enumerate(loaded.experiments):
            day.stopped = day.stopped or day.halted()
            if day.stopped is None and index > 0:
                day.stopped = _cooldown(day, loaded.experiments[index - 1], f"experiment {index + 1} of {total}")
            if day.stopped is None:
                day.stopped = _before_start(day, experiment)
            if day.stopped is not None:
                day.runs.append(_not_run(day, index, day.stopped))
                continue
            _run_one(day, index, total, experiment)
    return _finish(day, gameday_id, started)


def _before_start(day: _Day, experiment: LoadedExperiment) -> str | None:
    """The window and the budget gate; the reason to stop, prefixed as a refusal."""
    gameday, now = day.loaded.gameday, day.options.now()
    if gameday.window is not None and not is_open(gameday.window, now):
        return REFUSED_PREFIX + closed_message(gameday.window, now)
    if gameday.window is not None and (late := too_long_message(gameday.window, now,
                                                                 build_plan(experiment).expected_s)):
        return REFUSED_PREFIX + late
    if gameday.budget_gate is None:
        return None
    client = client_for(experiment)
    if client is None:  # validation refuses a budget gate over local experiments
        return None
    needed = float(gameday.budget_gate.min_budget_remaining) / 100
    day.say(f"budget gate before {experiment.name}: at least {needed:.2%} of each SLO's error budget must be left")
    checks = budget_checks(client, experiment, needed, day.options.clock())
    day.budget.extend(checks)
    for check in checks:
        day.say(f"  {check.slo}: {check.detail}")
    if (missing := failed(checks)):
        shown = "; ".join(f"{c.slo}: {c.detail}" for c in missing)
        return f"{REFUSED_PREFIX}budget gate before {experiment.name}: {shown}"
    return None


def _cooldown(day: _Day, previous: LoadedExperiment, next_up: str) -> str | None:
    """Wait the cooldown, then for the previous experiment's SLOs to be back at objective; the reason
    to stop (interrupted, or not in steady state within the limit), or None."""
    gameday, options = day.loaded.gameday, day.options
    began = options.clock()
    reason = _wait(day, gameday.cooldown, f"{next_up}, cooldown after {previous.name}")
    client = client_for(previous)
    if reason is not None or client is None:
        detail = reason or "the local platform starts a fresh system for each experiment: the cooldown is a plain wait"
        day.cooldowns.append(CooldownRecord(after=previous.name, started=began, ended=options.clock(), steady=None,
                                            detail=detail))
        return reason
    day.say(f"waiting for the SLOs of {previous.name} to be back at objective (at most "
            f"{gameday.steady_state_timeout:g}s)")
    answer, waited = wait_for_steady_state(lambda now: steady_state(client, previous, now), options.clock,
                                           lambda seconds: _pause(day, seconds), gameday.steady_state_timeout,
                                           lambda: day.halted() is not None)
    day.cooldowns.append(CooldownRecord(after=previous.name, started=began, ended=options.clock(),
                                        steady=answer.steady, detail=answer.detail))
    if day.halted() is not None:
        return day.halted()
    if not answer.steady:
        return f"not in steady state {waited:.0f}s after {previous.name}: {answer.detail}"
    return None


def _wait(day: _Day, seconds: float, label: str) -> str | None:
    """Sleep in small steps, with a progress line every few seconds; the reason when interrupted."""
    options = day.options
    end = options.clock() + seconds
    next_line = 0.0
    while (left := end - options.clock()) > 0:
        if (reason := day.halted()) is not None:
            return reason
        if label and options.clock() >= next_line:
            day.say(f"{label}: {left:.0f}s left")
            next_line = options.clock() + options.progress_every_s
        options.sleep(min(TICK_S, left))
    return day.halted()


def _pause(day: _Day, seconds: float) -> None:
    _wait(day, seconds, "")


def _run_one(day: _Day, index: int, total: int, experiment: LoadedExperiment) -> None:
    options, designed = day.options, day.loaded.designed(index)
    if options.on_start is not None:
        options.on_start(index + 1, total, experiment, designed)
    sink = options.progress(index + 1, total) if options.progress is not None else None
    run_options = RunOptions(output=day.folder, stop_file=options.stop_file, progress=sink,
                             progress_every_s=options.progress_every_s)
    try:
        result = run_experiment(experiment, run_options)
    except HarnessError as err:  # one experiment that cannot run: reported, and the day goes on
        record = _not_run(day, index, f"could not run: {err}")
        day.runs.append(record)
        _report(day, index, total, record, None)
        return
    record = _ran(day, index, experiment, result)
    day.runs.append(record)
    _report(day, index, total, record, result)
    if interrupted(result):
        day.stopped = result.halted
    elif not record.as_designed and result.verdict in day.loaded.gameday.stop_on:
        day.stopped = f"stop_on: {experiment.name} ended {result.verdict} (designed {designed})"


def _report(day: _Day, index: int, total: int, record: GameDayRun, result: RunResult | None) -> None:
    if day.options.on_result is not None:
        day.options.on_result(index + 1, total, record, result)


def _ran(day: _Day, index: int, experiment: LoadedExperiment, result: RunResult) -> GameDayRun:
    designed = day.loaded.designed(index)
    folder = Path(result.run_dir) if result.run_dir else None
    relative = str(folder.relative_to(day.folder)) if folder is not None and folder.is_relative_to(day.folder) \
        else (str(folder) if folder else None)
    return GameDayRun(experiment=experiment.name, file=str(shown_path(experiment.path)), designed=designed,
                      verdict=result.verdict, as_designed=result.verdict == designed, run_id=result.run_id,
                      run_dir=relative, started=result.started, ended=result.ended, exit_code=result.exit_code,
                      reason=result.reason)


def _not_run(day: _Day, index: int, why: str) -> GameDayRun:
    experiment = day.loaded.experiments[index]
    return GameDayRun(experiment=experiment.name, file=str(shown_path(experiment.path)),
                      designed=day.loaded.designed(index), not_run=why)


def _finish(day: _Day, gameday_id: str, started: float) -> GameDayResult:
    gameday = day.loaded.gameday
    verdict, code = gameday_outcome(day.runs)
    result = GameDayResult(
        name=day.loaded.name, gameday_id=gameday_id, file=str(shown_path(day.loaded.path)),
        description=gameday.metadata.description,
        participants=Participants(owner=gameday.participants.owner, observers=gameday.participants.observers),
        started=started, ended=day.options.clock(), runs=tuple(day.runs), budget_checks=tuple(day.budget),
        cooldowns=tuple(day.cooldowns), stopped=_stopped_text(day), verdict=verdict, exit_code=code)
    write_gameday(result, day.folder)  # first, so a report that fails still leaves the day's record
    written = write_reports(result, day.folder, gameday.report.formats, gameday.report.postmortem)
    result = result.model_copy(update={"reports": tuple(p.name for p in written)})
    write_gameday(result, day.folder)
    return result


def _stopped_text(day: _Day) -> str | None:
    if day.stopped is None:
        return None
    return day.stopped.removeprefix(REFUSED_PREFIX)
