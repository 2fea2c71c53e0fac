"""The game day result (`gameday.json`): every run's designed and actual verdict, the budget checks,
the cooldowns and why the day stopped. Each run keeps its own folder (result.json, series.json) inside
the game day's folder, so the reports can be rebuilt from that folder alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from harness.errors import SpecError
from harness.judge.verdict import Verdict
from harness.result.model import RESULT_API_VERSION, ResultPart

GAMEDAY_NAME = "gameday.json"


class GameDayRun(ResultPart):
    experiment: str
    file: str
    designed: Verdict
    verdict: Verdict | None = None
    """None: it never ran (the day stopped before it, or it could not start)."""
    as_designed: bool = False
    run_id: str | None = None
    run_dir: str | None = None
    """The run's folder, relative to the game day's folder."""
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    reason: str = ""
    not_run: str = ""


class BudgetCheck(ResultPart):
    before: str
    """The experiment about to start."""
    slo: str
    time: float
    remaining: float | None
    """The share of the SLO's error budget left over its period (None: it could not be read)."""
    needed: float
    passed: bool
    detail: str = ""


class CooldownRecord(ResultPart):
    after: str
    started: float
    ended: float
    steady: bool | None
    """True: the SLOs were back at objective; False: not within the limit; None: not checkable (local)."""
    detail: str = ""


class Participants(ResultPart):
    owner: str = ""
    observers: tuple[str, ...] = ()


class GameDayResult(ResultPart):
    api_version: str = Field(default=RESULT_API_VERSION, alias="apiVersion")
    kind: Literal["GameDayResult"] = "GameDayResult"
    name: str
    gameday_id: str
    file: str
    description: str = ""
    participants: Participants = Field(default_factory=Participants)
    started: float
    ended: float | None = None
    runs: tuple[GameDayRun, ...] = ()
    budget_checks: tuple[BudgetCheck, ...] = ()
    cooldowns: tuple[CooldownRecord, ...] = ()
    stopped: str | None = None
    """Why the day stopped before its last experiment, None when every experiment ran."""
    verdict: str = ""
    """PASS when every experiment ended as designed, else the most severe outcome (as for a gate)."""
    exit_code: int | None = None
    reports: tuple[str, ...] = ()
    """The report files written into the game day's folder."""


def write_gameday(result: GameDayResult, folder: Path) -> Path:
    path = folder / GAMEDAY_NAME
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.model_dump(mode="json", by_alias=True), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def is_gameday_folder(path: Path) -> bool:
    return (path / GAMEDAY_NAME).is_file()


def load_gameday_result(folder: Path) -> GameDayResult:
    file = folder / GAMEDAY_NAME
    try:
        return GameDayResult.model_validate(json.loads(file.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise SpecError([f"{file}: no such file (a game day folder holds {GAMEDAY_NAME})"]) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as err:
        first = str(err).splitlines()[0]
        raise SpecError([f"{file}: not a readable game day result ({first})"]) from None
