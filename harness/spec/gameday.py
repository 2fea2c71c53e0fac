"""`kind: GameDay`: a suite of experiments run in order, with cooldowns, a budget gate and a time window.

The format is the contract's (`gate-gameday-report-v1.md`); additions are optional and documented in
the README (`steady_state_timeout`). Loading validates every referenced experiment too and reports
every problem of every file at once, so nothing starts while one file is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from harness.errors import SpecError
from harness.spec.loader import LoadedExperiment, load_experiment
from harness.spec.models import Metadata
from harness.spec.parsing import parse_model, read
from harness.spec.source import Loc, Problem
from harness.spec.types import Duration, Model, Percent

Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE", "ABORTED", "ERROR"]
Day = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
DAYS: tuple[Day, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DEFAULT_STEADY_STATE_TIMEOUT_S = 300.0


class Participants(Model):
    owner: str = ""
    observers: tuple[str, ...] = ()


class GameDayExperiment(Model):
    path: str
    expect_verdict: Verdict = "PASS"
    """The designed outcome: FAIL for a known weakness the day demonstrates."""


class BudgetGate(Model):
    min_budget_remaining: Percent


class Window(Model):
    days: tuple[Day, ...] = DAYS
    hours: str = "00:00-24:00"
    timezone: str = "UTC"

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_hours(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name like Europe/Berlin or UTC") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def span(self) -> tuple[time, time | None]:
        """Start and end of the allowed hours; end None is midnight (24:00)."""
        return parse_hours(self.hours)


def parse_hours(value: str) -> tuple[time, time | None]:
    """`09:00-16:00` as (start, end); `24:00` as the end means midnight; the end must be after the start."""
    try:
        first, last = (part.strip() for part in value.split("-"))
        start = time.fromisoformat(first)
        end = None if last == "24:00" else time.fromisoformat(last)
    except ValueError:
        raise ValueError(f"expected hours like \"09:00-16:00\", got {value!r}") from None
    if end is not None and end <= start:
        raise ValueError(f"the window {value!r} ends before it starts (windows across midnight are not supported: "
                         "use two game day files)")
    return start, end


class ReportOptions(Model):
    formats: tuple[Literal["html", "markdown"], ...] = ("html", "markdown")
    postmortem: bool = True


class GameDay(Model):
    api_version: Literal["harness/v1"] = Field(alias="apiVersion")
    kind: Literal["GameDay"]
    metadata: Metadata
    participants: Participants = Field(default_factory=Participants)
    experiments: tuple[GameDayExperiment, ...] = Field(min_length=1)
    cooldown: Duration = 0.0
    steady_state_timeout: Duration = DEFAULT_STEADY_STATE_TIMEOUT_S
    """How long a cooldown may wait for the previous experiment's SLOs to be back at objective."""
    stop_on: tuple[Verdict, ...] = ("ABORTED", "ERROR")
    budget_gate: BudgetGate | None = None
    window: Window | None = None
    report: ReportOptions = Field(default_factory=ReportOptions)

    @model_validator(mode="after")
    def _sane(self) -> GameDay:
        if self.cooldown < 0:
            raise ValueError("cooldown must not be negative")
        if "PASS" in self.stop_on:
            raise ValueError("stop_on: PASS would stop at the first success; list outcomes that should stop the day")
        return self


@dataclass(frozen=True)
class LoadedGameDay:
    path: Path
    gameday: GameDay
    experiments: tuple[LoadedExperiment, ...]
    lines: Mapping[str, int]
    """The line of each experiment entry (`experiments[0]`...) in the game day file."""

    @property
    def name(self) -> str:
        return self.gameday.metadata.name

    def designed(self, index: int) -> Verdict:
        return self.gameday.experiments[index].expect_verdict


def is_gameday_file(path: Path) -> bool:
    """A cheap look at `kind` (the loaders then report every problem properly)."""
    try:
        doc = read(path)
    except SpecError:
        return False
    return isinstance(doc.data, dict) and doc.data.get("kind") == "GameDay"


def load_gameday(path: Path, environ: Mapping[str, str] | None = None) -> LoadedGameDay:
    """Read and validate a game day and every experiment it names; SpecError lists every problem."""
    doc = read(path)
    kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
    if kind != "GameDay":
        raise SpecError([Problem(path, ("kind",), f"expected kind GameDay, got {kind!r}", doc.line_of(("kind",)))
                         .render()])
    gameday = parse_model(doc, GameDay, environ)
    problems: list[str] = []
    experiments: list[tuple[int, LoadedExperiment]] = []
    for index, entry in enumerate(gameday.experiments):
        loc = ("experiments", index, "path")
        target = (path.parent / entry.path).resolve()
        if not target.is_file():
            problems.append(Problem(path, loc, f"no experiment file {entry.path} (paths are relative to this file)",
                                    doc.line_of(loc)).render())
            continue
        try:
            experiments.append((index, load_experiment(target, environ)))
        except SpecError as err:
            problems.append(Problem(path, loc, f"experiment {entry.path} is invalid:", doc.line_of(loc)).render())
            problems.extend(f"  {problem}" for problem in err.problems)
    problems += _cross_checks(path, doc.line_of, gameday, experiments)
    if problems:
        raise SpecError(problems)
    lines = {f"experiments[{i}]": doc.line_of(("experiments", i)) or 1 for i in range(len(gameday.experiments))}
    return LoadedGameDay(path, gameday, tuple(loaded for _, loaded in experiments), lines)


def _cross_checks(path: Path, line_of: Callable[[Loc], int | None], gameday: GameDay,
                  experiments: list[tuple[int, LoadedExperiment]]) -> list[str]:
    """What each file allows alone but the game day cannot do."""
    problems = []
    names: dict[str, int] = {}
    local_gated = False
    for index, loaded in experiments:
        if loaded.name in names:
            loc = ("experiments", index, "path")
            problems.append(Problem(path, loc, f"experiment {loaded.name!r} is listed twice (also at experiments["
                                    f"{names[loaded.name]}]): a game day tells its runs apart by name",
                                    line_of(loc)).render())
        names.setdefault(loaded.name, index)
        if gameday.budget_gate is not None and loaded.experiment.target.platform == "local" and not local_gated:
            local_gated = True
            problems.append(Problem(path, ("budget_gate",), f"experiment {loaded.name!r} runs on the local platform, "
                                    "whose Prometheus starts empty: there is no budget history to gate on (use the "
                                    "budget gate with experiments on your own Prometheus, or remove it)",
                                    line_of(("budget_gate",))).render())
    return problems
