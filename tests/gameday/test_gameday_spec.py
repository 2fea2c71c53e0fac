"""Game day files: validated with every referenced experiment, all problems at once, before anything starts."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from harness.errors import SpecError
from harness.gameday.window import closed_message, is_open, next_opening
from harness.spec.gameday import Window, load_gameday
from tests.test_cli_offline import ROOT, run_cli

EXPERIMENTS = ROOT / "experiments"


def _day(folder: Path, **overrides: object) -> Path:
    """A game day over copies of the bundled experiments, in folder/gamedays/."""
    shutil.copytree(EXPERIMENTS, folder / "experiments", dirs_exist_ok=True)
    shutil.copytree(ROOT / "loadprofiles", folder / "loadprofiles", dirs_exist_ok=True)
    doc: dict[str, object] = {
        "apiVersion": "harness/v1", "kind": "GameDay", "metadata": {"name": "day"},
        "experiments": [{"path": "../experiments/shop-survives-replica-kill.yaml"},
                        {"path": "../experiments/checkout-latency-regression.yaml", "expect_verdict": "FAIL"}],
        "cooldown": "5s", **overrides}
    path = folder / "gamedays" / "day.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_the_bundled_demo_game_day_is_valid() -> None:
    loaded = load_gameday(ROOT / "gamedays" / "demo.yaml")
    assert [e.name for e in loaded.experiments] == ["shop-survives-replica-kill", "checkout-latency-regression",
                                                    "shop-outage-remediated"]
    assert [loaded.designed(i) for i in range(3)] == ["PASS", "FAIL", "PASS"]


def test_a_typo_in_one_referenced_experiment_names_that_file_and_field(capsys: pytest.CaptureFixture[str],
                                                                       tmp_path: Path) -> None:
    path = _day(tmp_path)
    broken = tmp_path / "experiments" / "checkout-latency-regression.yaml"
    broken.write_text(broken.read_text().replace("  warmup: 5s", "  warmpu: 5s"))
    code, _, err = run_cli(capsys, "gameday", str(path), "--output", str(tmp_path / "runs"))
    assert code == 2 and not (tmp_path / "runs").exists()
    assert f"{path}:" in err and "experiments[1].path: experiment ../experiments/checkout-latency-regression.yaml " \
                                  "is invalid" in err
    assert f"{broken}:" in err and "phases.warmpu" in err


def test_every_problem_of_the_game_day_at_once(tmp_path: Path) -> None:
    path = _day(tmp_path, experiments=[{"path": "../experiments/missing.yaml"},
                                       {"path": "../experiments/shop-survives-replica-kill.yaml",
                                        "expect_verdict": "MAYBE"}],
                window={"hours": "16:00-09:00", "timezone": "Mars/Olympus"}, stop_on=["PASS"])
    with pytest.raises(SpecError) as raised:
        load_gameday(path)
    text = "\n".join(raised.value.problems)
    assert "expect_verdict" in text and "window.hours" in text and "window.timezone" in text
    assert "unknown time zone 'Mars/Olympus'" in text and "ends before it starts" in text


def test_a_missing_experiment_file_and_a_duplicate_are_named(tmp_path: Path) -> None:
    same = {"path": "../experiments/shop-survives-replica-kill.yaml"}
    path = _day(tmp_path, experiments=[{"path": "../experiments/missing.yaml"}, same, same])
    with pytest.raises(SpecError) as raised:
        load_gameday(path)
    text = "\n".join(raised.value.problems)
    assert "experiments[0].path: no experiment file ../experiments/missing.yaml" in text
    assert "experiments[2].path: experiment 'shop-survives-replica-kill' is listed twice" in text


def test_a_budget_gate_over_local_experiments_is_refused_at_validation(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as raised:
        load_gameday(_day(tmp_path, budget_gate={"min_budget_remaining": "50%"}))
    assert "budget_gate: experiment 'shop-survives-replica-kill' runs on the local platform" in raised.value.problems[0]


def test_plan_shows_the_order_cooldowns_checks_and_expected_time(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "plan", str(ROOT / "gamedays" / "demo.yaml"))
    assert code == 0
    assert out.startswith("game day demo (") and "3 experiments, expected about" in out
    assert out.index("== 1. shop-survives-replica-kill: designed PASS ==") < out.index(
        "-- cooldown 5s") < out.index("== 2. checkout-latency-regression: designed FAIL ==")
    assert "budget gate: none" in out and "window: none" in out and "timeline (from the start of load):" in out


WINDOW = Window(days=("Mon", "Tue", "Wed", "Thu"), hours="09:00-16:00", timezone="Europe/Berlin")


@pytest.mark.parametrize(("utc", "open_"), [
    ("2026-12-03T08:30:00", True),    # Thu 09:30 in Berlin (UTC+1)
    ("2026-12-03T07:59:00", False),   # Thu 08:59
    ("2026-12-03T15:00:00", False),   # Thu 16:00: the end is not inside
    ("2026-12-04T10:00:00", False),   # a Friday
])
def test_the_window_in_its_own_time_zone(utc: str, open_: bool) -> None:
    assert is_open(WINDOW, datetime.fromisoformat(utc).replace(tzinfo=UTC)) is open_


def test_outside_the_window_the_message_names_the_next_opening() -> None:
    friday = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    opening = next_opening(WINDOW, friday)
    assert opening is not None and opening.isoformat() == "2026-12-07T09:00:00+01:00"  # Monday
    assert "it next opens Mon 2026-12-07 09:00 Europe/Berlin" in closed_message(WINDOW, friday)
    assert "it is now Fri 11:00 there" in closed_message(WINDOW, friday)


def test_a_game_day_given_to_run_or_gate_points_at_harness_gameday(capsys: pytest.CaptureFixture[str]) -> None:
    demo = ROOT / "gamedays" / "demo.yaml"
    code, _, err = run_cli(capsys, "run", str(demo))
    assert code == 2 and f"{demo}: this is a game day (kind: GameDay): run it with `harness gameday {demo}`" in err
    code, _, err = run_cli(capsys, "gate", str(demo))
    assert code == 2 and "a game day, run with `harness gameday FILE`" in err
