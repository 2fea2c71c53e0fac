"""The game day runner's decisions with a fake run and a fake clock: outcomes, stop_on, interruptions,
the window, the budget gate and the steady state (the real runs are in tests/integration)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.errors import Refused
from harness.gameday import run as gameday_run
from harness.gameday.checks import Steadiness
from harness.gameday.run import GameDayOptions, run_gameday
from harness.result import write_run_result
from harness.result.gameday import BudgetCheck, load_gameday_result
from harness.result.model import RunResult
from harness.run.runner import RunOptions
from harness.spec.gameday import BudgetGate, LoadedGameDay, load_gameday
from harness.spec.loader import LoadedExperiment
from tests.gameday.test_gameday_spec import _day
from tests.reports.results import checkout_result
from tests.test_cli_offline import run_cli


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _fake_runs(monkeypatch: pytest.MonkeyPatch, verdicts: dict[str, str],
               after: Callable[[str], None] | None = None, changes: dict[str, dict[str, Any]] | None = None
               ) -> list[str]:
    """run_experiment replaced: each experiment ends with its verdict here, its folder in the day's folder."""
    started: list[str] = []

    def run(loaded: LoadedExperiment, options: RunOptions) -> RunResult:
        started.append(loaded.name)
        run_dir = options.output / f"run-{loaded.name}"
        result = checkout_result(verdicts[loaded.name], run_id=f"run-{loaded.name}", experiment=loaded.name,
                                 run_dir=str(run_dir), **(changes or {}).get(loaded.name, {}))
        result = result.model_copy(update={"verdict": verdicts[loaded.name]})
        write_run_result(result, run_dir)
        if after is not None:
            after(loaded.name)
        return result

    monkeypatch.setattr(gameday_run, "run_experiment", run)
    return started


def _options(tmp_path: Path, clock: Clock, **extra: Any) -> GameDayOptions:
    return GameDayOptions(output=tmp_path / "runs", clock=clock.time, sleep=clock.sleep, **extra)


def _loaded(tmp_path: Path, **overrides: object) -> LoadedGameDay:
    return load_gameday(_day(tmp_path, **overrides))


def test_every_experiment_as_designed_is_exit_0_with_the_reports(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    _fake_runs(monkeypatch, {"shop-survives-replica-kill": "PASS", "checkout-latency-regression": "FAIL"})
    clock = Clock()
    result = run_gameday(_loaded(tmp_path), _options(tmp_path, clock))
    assert (result.verdict, result.exit_code, result.stopped) == ("PASS", 0, None)
    assert [(r.designed, r.verdict, r.as_designed) for r in result.runs] == [("PASS", "PASS", True),
                                                                             ("FAIL", "FAIL", True)]
    folder = tmp_path / "runs" / result.gameday_id
    assert load_gameday_result(folder) == result
    assert set(result.reports) == {"report.html", "report.md"}  # no postmortem: nothing missed its design
    assert result.cooldowns[0].steady is None and clock.now >= 1_800_000_005.0  # the 5 s cooldown was waited
    html = (folder / "report.html").read_text()
    assert "Game day day" in html and "<th>designed</th>" in html
    assert json.loads((folder / "gameday.json").read_text())["runs"][0]["run_dir"] == "run-shop-survives-replica-kill"


def test_a_missed_design_gets_a_postmortem_and_fails_the_day(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_runs(monkeypatch, {"shop-survives-replica-kill": "FAIL", "checkout-latency-regression": "FAIL"})
    result = run_gameday(_loaded(tmp_path), _options(tmp_path, Clock()))
    assert (result.verdict, result.exit_code) == ("FAIL", 1)
    assert "postmortem-shop-survives-replica-kill.md" in result.reports
    draft = (tmp_path / "runs" / result.gameday_id / "postmortem-shop-survives-replica-kill.md").read_text()
    assert draft.startswith("# Postmortem (draft): shop-survives-replica-kill")
    assert "- **Status:** DRAFT" in draft and "(designed: PASS)" in draft


def test_a_designed_failure_that_passed_missed_its_design(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_runs(monkeypatch, {"shop-survives-replica-kill": "PASS", "checkout-latency-regression": "PASS"})
    result = run_gameday(_loaded(tmp_path), _options(tmp_path, Clock()))
    assert (result.verdict, result.exit_code) == ("FAIL", 1) and not result.runs[1].as_designed


def test_stop_on_stops_the_day_and_the_rest_is_not_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    started = _fake_runs(monkeypatch, {"shop-survives-replica-kill": "ERROR", "checkout-latency-regression": "FAIL"})
    result = run_gameday(_loaded(tmp_path), _options(tmp_path, Clock()))
    assert started == ["shop-survives-replica-kill"]
    assert result.stopped == "stop_on: shop-survives-replica-kill ended ERROR (designed PASS)"
    assert result.runs[1].verdict is None and result.runs[1].not_run == result.stopped
    assert (result.verdict, result.exit_code) == ("ERROR", 5)


def test_an_interrupted_run_stops_the_day(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    halted = {"shop-survives-replica-kill": {"halted": "interrupted by SIGTERM"}}
    started = _fake_runs(monkeypatch, {"shop-survives-replica-kill": "ABORTED", "checkout-latency-regression": "FAIL"},
                         changes=halted)
    result = run_gameday(_loaded(tmp_path), _options(tmp_path, Clock()))
    assert started == ["shop-survives-replica-kill"] and result.stopped == "interrupted by SIGTERM"
    assert (result.verdict, result.exit_code) == ("ABORTED", 4)
    assert (tmp_path / "runs" / result.gameday_id / "report.html").is_file()  # reports for what ran


def test_the_kill_switch_during_the_cooldown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    started = _fake_runs(monkeypatch, {"shop-survives-replica-kill": "PASS", "checkout-latency-regression": "FAIL"},
                         after=lambda name: stop.touch())
    result = run_gameday(_loaded(tmp_path), _options(tmp_path, Clock(), stop_file=stop))
    assert started == ["shop-survives-replica-kill"]
    assert result.stopped is not None and "stop file" in result.stopped and result.exit_code == 5


def test_outside_the_window_nothing_starts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    started = _fake_runs(monkeypatch, {})
    window = {"days": ["Mon"], "hours": "09:00-10:00", "timezone": "UTC"}
    friday = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    with pytest.raises(Refused) as refused:
        run_gameday(_loaded(tmp_path, window=window), _options(tmp_path, Clock(), now=lambda: friday))
    assert "it next opens Mon 2026-12-07 09:00 UTC" in str(refused.value) and started == []
    assert not (tmp_path / "runs").exists()


def test_a_budget_gate_with_too_little_left_stops_the_day_refused(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    started = _fake_runs(monkeypatch, {"shop-survives-replica-kill": "PASS", "checkout-latency-regression": "FAIL"})
    loaded = _loaded(tmp_path)
    gated = LoadedGameDay(loaded.path, loaded.gameday.model_copy(update={"budget_gate": _gate("50%")}),
                          loaded.experiments, loaded.lines)  # validation refuses it over local experiments
    monkeypatch.setattr(gameday_run, "client_for", lambda loaded: object())

    def checks(client: object, loaded: LoadedExperiment, needed: float, now: float) -> list[BudgetCheck]:
        left = 0.9 if loaded.name == "shop-survives-replica-kill" else 0.2
        return [BudgetCheck(before=loaded.name, slo="avail", time=now, remaining=left, needed=needed,
                            passed=left >= needed, detail=f"{left:.2%} left (needed {needed:.2%})")]

    monkeypatch.setattr(gameday_run, "budget_checks", checks)
    monkeypatch.setattr(gameday_run, "steady_state", lambda client, loaded, now: Steadiness(True, "steady"))
    result = run_gameday(gated, _options(tmp_path, Clock()))
    assert started == ["shop-survives-replica-kill"]
    assert result.stopped == "budget gate before checkout-latency-regression: avail: 20.00% left (needed 50.00%)"
    assert (result.verdict, result.exit_code) == ("REFUSED", 6)
    assert [c.passed for c in result.budget_checks] == [True, False]


def test_not_back_in_steady_state_within_the_limit_stops_the_day(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    started = _fake_runs(monkeypatch, {"shop-survives-replica-kill": "PASS", "checkout-latency-regression": "FAIL"})
    monkeypatch.setattr(gameday_run, "client_for", lambda loaded: object())
    monkeypatch.setattr(gameday_run, "steady_state",
                        lambda client, loaded, now: Steadiness(False, "shop-availability 97.000% < 99.000%"))
    clock = Clock()
    result = run_gameday(_loaded(tmp_path, steady_state_timeout="30s"), _options(tmp_path, clock))
    assert started == ["shop-survives-replica-kill"]
    assert result.stopped is not None and result.stopped.startswith("not in steady state 30s after")
    assert result.cooldowns[0].steady is False and "97.000%" in result.cooldowns[0].detail
    assert result.exit_code == 5


def _gate(share: str) -> BudgetGate:
    return BudgetGate.model_validate({"min_budget_remaining": share})


def test_the_reports_are_rebuilt_from_the_game_day_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _fake_runs(monkeypatch, {"shop-survives-replica-kill": "FAIL", "checkout-latency-regression": "FAIL"})
    result = run_gameday(_loaded(tmp_path), _options(tmp_path, Clock()))
    folder = tmp_path / "runs" / result.gameday_id
    code, out, _ = run_cli(capsys, "report", str(folder), "--format", "postmortem")
    assert code == 0 and out == (folder / "postmortem-shop-survives-replica-kill.md").read_text()
    code, out, _ = run_cli(capsys, "report", str(folder), "--format", "markdown")
    assert code == 0 and out == (folder / "report.md").read_text()
    assert "| designed | experiment | verdict |" in out
    code, out, _ = run_cli(capsys, "report", str(folder), "--format", "junit")
    assert code == 0 and out.count("<testsuite ") == 2 and 'name="shop-survives-replica-kill"' in out
    code, _, err = run_cli(capsys, "report", str(folder), "--output", str(folder / "report.md" / "x.md"))
    assert code == 2 and "--output" in err


def test_an_existing_stop_file_is_refused_before_anything_starts(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    stop.touch()
    code, _, err = run_cli(capsys, "gameday", str(_day(tmp_path)), "--stop-file", str(stop), "--output",
                           str(tmp_path / "runs"))
    assert code == 2 and f"--stop-file {stop} already exists" in err and not (tmp_path / "runs").exists()


def test_an_experiment_that_would_run_past_the_window_does_not_start(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    started = _fake_runs(monkeypatch, {})
    window = {"days": ["Fri"], "hours": "09:00-12:01", "timezone": "UTC"}
    closing = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)  # a minute left; the experiment takes about 75 s
    with pytest.raises(Refused) as refused:
        run_gameday(_loaded(tmp_path, window=window), _options(tmp_path, Clock(), now=lambda: closing))
    assert "the window closes in 60s (12:01 UTC); it would run past the window's end" in str(refused.value)
    assert started == [] and not (tmp_path / "runs").exists()
