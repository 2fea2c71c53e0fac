"""Game days for real: the bundled demo from the command line, and a day whose first run misses its
design (a postmortem draft) and whose second is interrupted (SIGTERM, then SIGKILL + rollback)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.chromium import band_columns, plot_areas, screenshot
from tests.integration.conftest import (
    REPO,
    GameDayOutcome,
    availability_slo,
    harness_argv,
    journal_entries,
    latency_slo,
    read_json,
    wait_no_leftovers,
    write_experiment,
)

pytestmark = pytest.mark.integration

LONG_PHASES = {"warmup": "2s", "baseline": "4s", "fault": "20s", "recovery": "5s"}
QUICK_PHASES = {"warmup": "1s", "baseline": "5s", "fault": "5s", "recovery": "3s"}  # 400 events a phase
SLOW = {"name": "slow", "type": "latency", "at": "1s", "duration": "3s", "delay": "300ms"}
SLOW_LONG = {"name": "slow-long", "type": "latency", "at": "1s", "duration": "18s", "delay": "300ms"}


def test_the_bundled_demo_is_a_game_day_with_a_report(demo_day: GameDayOutcome, tmp_path: Path) -> None:
    done = demo_day
    assert done.exit_code == 0, done.stdout + done.stderr[-3000:]
    assert "shop-survives-replica-kill: PASS - as designed" in done.stdout
    assert "checkout-latency-regression: FAIL - as designed" in done.stdout
    assert "shop-outage-remediated: PASS - as designed" in done.stdout
    folder = done.folder
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]
    assert f"report: {folder / 'report.html'}" in done.stdout
    recorded = read_json(folder / "gameday.json")
    assert recorded["verdict"] == "PASS" and [r["as_designed"] for r in recorded["runs"]] == [True, True, True]
    assert not list(folder.glob("postmortem-*.md"))  # nothing missed its design
    image = screenshot(folder / "report.html", tmp_path / "shots" / "demo.png")
    areas = plot_areas(image)
    assert len(areas) == 13  # per SLO its SLI and burn rate, per run the load: 5 + 5 + 3
    assert all(band_columns(image, area) is not None for area in areas)  # every plot shows its fault
    rebuilt = subprocess.run(harness_argv("report", str(folder), "--format", "markdown"), capture_output=True,
                             text=True, timeout=60, cwd=REPO, check=False)
    assert rebuilt.returncode == 0 and rebuilt.stdout == (folder / "report.md").read_text()
    assert done.leftovers == []


def _day(folder: Path) -> Path:
    """A day of two: gd-latency (designed PASS, it FAILs) and gd-long, whose fault the tests interrupt."""
    write_experiment(folder / "experiments", "gd-latency", slos=[latency_slo(objective=95)],
                     hypothesis=[{"slo": "shop-latency"}], phases=QUICK_PHASES, faults=[SLOW])
    write_experiment(folder / "experiments", "gd-long", phases=LONG_PHASES, faults=[SLOW_LONG],
                     slos=[availability_slo(objective=95)])
    path = folder / "day.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "harness/v1", "kind": "GameDay", "metadata": {"name": "gd-interrupted"},
        "experiments": [{"path": "experiments/gd-latency.yaml"}, {"path": "experiments/gd-long.yaml"}],
        "cooldown": "1s"}))
    return path


def _start(day: Path, runs: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    with open(tmp_path / "out.txt", "wb") as out, open(tmp_path / "err.txt", "wb") as err:
        return subprocess.Popen(harness_argv("gameday", str(day), "--output", str(runs), "--quiet"), stdout=out,
                                stderr=err, cwd=REPO, start_new_session=True)


def _second_run_faulted(runs: Path, proc: subprocess.Popen[bytes], timeout_s: float = 180.0) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for journal in runs.glob("*/*-gd-long/rollback.jsonl"):
            if '"applied"' in journal.read_text():
                time.sleep(1.0)
                return journal.parent
        assert proc.poll() is None, f"the game day exited ({proc.returncode}) before the second fault"
        time.sleep(0.2)
    raise AssertionError("the second experiment never applied its fault")


def test_an_interrupted_game_day_reverts_and_reports_what_ran(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = _start(_day(tmp_path), runs, tmp_path)
    try:
        second = _second_run_faulted(runs, proc)
        os.kill(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = (tmp_path / "out.txt").read_text()
    assert code == 1, out + (tmp_path / "err.txt").read_text()[-3000:]  # the missed design (FAIL) outranks ABORTED
    folder = second.parent
    recorded = read_json(folder / "gameday.json")
    assert [(r["verdict"], r["as_designed"]) for r in recorded["runs"]] == [("FAIL", False), ("ABORTED", False)]
    assert recorded["stopped"].startswith("interrupted by SIGTERM")
    assert ("reverted", "slow-long") in [(e["event"], e["fault"]) for e in journal_entries(second)]
    assert {"report.html", "report.md", "postmortem-gd-latency.md"} <= {p.name for p in folder.iterdir()}
    draft = (folder / "postmortem-gd-latency.md").read_text()
    for heading in ("## Summary", "## Impact", "## Detection", "## Resolution", "## Timeline (UTC)",
                    "## Root cause", "## What went well", "## What went wrong", "## Action items (suggested)"):
        assert heading in draft
    assert "- **Status:** DRAFT" in draft and "(designed: PASS)" in draft
    assert "shop-latency: first below objective +" in draft  # seconds after the first fault, from the series
    assert "**mitigate**: shop-latency: phase fault missed its objective under latency" in draft
    assert wait_no_leftovers(set(), str(tmp_path)) == []


def test_sigkill_mid_game_day_then_rollback_of_the_game_day_folder(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = _start(_day(tmp_path), runs, tmp_path)
    try:
        second = _second_run_faulted(runs, proc)
        proc.kill()  # SIGKILL: no handler runs, nothing is reverted by the harness itself
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    folder = second.parent
    assert not (folder / "gameday.json").exists()
    done = subprocess.run(harness_argv("rollback", str(folder)), capture_output=True, text=True, timeout=60,
                          cwd=REPO, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"== {second.name}" in done.stdout and "slow-long" in done.stdout and "FAILED" not in done.stdout
    events: list[dict[str, Any]] = journal_entries(second)
    assert ("reverted", "slow-long") in [(e["event"], e["fault"]) for e in events]
    again = subprocess.run(harness_argv("rollback", str(folder)), capture_output=True, text=True, timeout=60,
                           cwd=REPO, check=False)
    assert again.returncode == 0 and "nothing to roll back" in again.stdout
    assert wait_no_leftovers(set(), str(tmp_path)) == []
