"""Rollback on every path out of a run: Ctrl-C, SIGTERM, the stop file, and SIGKILL + `harness rollback`."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.conftest import (
    REPO,
    RunningCli,
    availability_slo,
    harness_argv,
    journal_entries,
    read_json,
    wait_no_leftovers,
    write_experiment,
)

pytestmark = pytest.mark.integration

LONG_PHASES = {"warmup": "2s", "baseline": "4s", "fault": "20s", "recovery": "5s"}
LONG_LATENCY = {"name": "slow-long", "type": "latency", "at": "1s", "duration": "18s", "delay": "300ms"}
PAUSE_ONE = {"name": "pause-one", "type": "process-pause", "at": "1s", "duration": "18s",
             "selector": {"replica": "0"}}
HALT_WITHIN_S = 15.0  # revert + stop Locust (2 s grace) + settle + judge + stop the stack (supervisor 3 s)


def proc_state(pid: int) -> str | None:
    """The state letter of /proc/<pid>/stat ("T" stopped, "Z" zombie), None when the PID is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def active_proxy_faults(journal: list[dict[str, Any]]) -> dict[str, Any]:
    url = next(e["undo"]["url"] for e in journal if e["event"] == "intent" and e["undo"]
               and e["undo"]["kind"] == "proxy-fault")
    answer: dict[str, Any] = requests.get(f"{url}/faults", timeout=5).json()
    return answer


def halt(running: RunningCli, how: str, stop_file: Path) -> None:
    if how == "stop-file":
        stop_file.touch()
    else:
        os.kill(running.proc.pid, signal.Signals[how])


@pytest.mark.integration
@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "stop-file"])
def test_halt_during_the_fault_reverts_it_and_aborts(how: str, tmp_path: Path, start_cli: Any) -> None:
    experiment = write_experiment(tmp_path, f"integration-halt-{how.lower()}", phases=LONG_PHASES,
                                  faults=[LONG_LATENCY], slos=[availability_slo(objective=95)])
    stop_file = tmp_path / "stop-now"
    running: RunningCli = start_cli(experiment, "--stop-file", str(stop_file))
    running.wait_for_journal("applied")
    assert "slow-long" in active_proxy_faults(running.journal())  # the fault really is in place
    time.sleep(1.0)
    halted_at = time.monotonic()
    halt(running, how, stop_file)
    code = running.wait(timeout_s=60)
    took = time.monotonic() - halted_at

    assert code == 4, running.stderr()[-3000:]
    assert took < HALT_WITHIN_S
    result = read_json(running.run_dir() / "result.json")
    assert result["verdict"] == "ABORTED"
    assert result["exit_code"] == 4
    expected_reason = "stop file" if how == "stop-file" else f"interrupted by {how}"
    assert expected_reason in result["halted"]
    assert expected_reason in result["reason"]
    fault = result["faults"][0]
    assert fault["reverted"] is True
    assert fault["ended"] - fault["started"] < 18.0 - 5.0  # cut short, not left to its planned end
    events = [e["event"] for e in journal_entries(running.run_dir()) if e["fault"] == "slow-long"]
    assert events == ["intent", "applied", "reverted"]
    reverted = journal_entries(running.run_dir())[-1]
    assert "removed 'slow-long'" in reverted["result"]  # removed from a live proxy, not lost with it
    # the evidence gathered before the halt is still judged
    slo = result["slos"][0]
    assert slo["phases"]["baseline"]["verdict"] == "PASS"
    assert slo["phases"]["baseline"]["total"] > 100
    # the fault phase ends at the halt: reverting and stopping the load are not part of it
    cut = result["phases"]["fault"]
    assert cut["start"] < fault["started"] < cut["end"] <= fault["ended"] < cut["end"] + 1.0
    judged = slo["phases"]["fault"]
    assert judged["end"] == pytest.approx(cut["end"])
    # not read as a load shortfall (the judge's own threshold is 80 % of the requested 80 req/s)
    assert judged["client"]["achieved_rps"] >= 0.8 * 80
    assert "ABORTED (exit 4)" in running.stdout()


def rollback(run_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(harness_argv("rollback", str(run_dir)), capture_output=True, text=True, timeout=60,
                          cwd=REPO, check=False)


@pytest.mark.integration
def test_sigkill_leaves_a_journal_that_harness_rollback_replays(tmp_path: Path, start_cli: Any) -> None:
    experiment = write_experiment(tmp_path, "integration-sigkill", phases=LONG_PHASES,
                                  faults=[LONG_LATENCY, PAUSE_ONE])
    running: RunningCli = start_cli(experiment)
    running.wait_for_journal("applied", count=2)
    journal = running.journal()
    paused = [pid for e in journal if e["event"] == "intent" and e["undo"] and e["undo"]["kind"] == "resume"
              for pid in e["undo"]["pids"]]
    assert len(paused) == 1
    assert proc_state(paused[0]) == "T"
    assert "slow-long" in active_proxy_faults(journal)
    run_dir = running.run_dir()

    running.proc.kill()
    assert running.wait(timeout_s=10) == -signal.SIGKILL
    assert not (run_dir / "result.json").exists()

    first = rollback(run_dir)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert any(line.startswith("ok") and "pause-one" in line for line in lines), first.stdout
    assert any(line.startswith("ok") and "slow-long" in line for line in lines), first.stdout
    assert "FAILED" not in first.stdout
    pause_line = next(line for line in lines if "pause-one" in line)
    assert f"resumed PIDs [{paused[0]}]" in pause_line or "processes gone" in pause_line

    # no stopped process remains, and the paused replica does not outlive the run as an orphan
    deadline = time.monotonic() + 15
    while proc_state(paused[0]) not in (None, "Z") and time.monotonic() < deadline:
        assert proc_state(paused[0]) != "T"
        time.sleep(0.2)
    assert proc_state(paused[0]) in (None, "Z")
    left = wait_no_leftovers(set(), str(tmp_path))
    assert left == [], left

    events = [(e["event"], e["fault"]) for e in journal_entries(run_dir)]
    assert ("reverted", "slow-long") in events and ("reverted", "pause-one") in events
    second = rollback(run_dir)
    assert second.returncode == 0, second.stderr
    assert "nothing to roll back" in second.stdout


@pytest.mark.integration
def test_rollback_resumes_a_paused_replica_orphaned_by_a_crash(tmp_path: Path, start_cli: Any) -> None:
    """Harness and supervisor both SIGKILLed: the paused replica's death signal waits while it is stopped."""
    experiment = write_experiment(tmp_path, "integration-orphan", phases=LONG_PHASES, faults=[PAUSE_ONE])
    running: RunningCli = start_cli(experiment)
    running.wait_for_journal("applied")
    paused = next(e["undo"]["pids"] for e in running.journal() if e["event"] == "intent")[0]
    run_dir = running.run_dir()
    supervisor = read_json(run_dir / "platform" / "supervisor-state.json")["supervisor_pid"]

    os.kill(supervisor, signal.SIGKILL)
    running.proc.kill()
    running.wait(timeout_s=10)
    time.sleep(2.0)  # long enough for every SIGTERMed child to be gone
    alive_before = proc_state(paused) not in (None, "Z")
    if alive_before:
        assert proc_state(paused) == "T"  # stopped, orphaned: only a rollback can release it

    done = rollback(run_dir)
    assert done.returncode == 0, done.stderr
    if alive_before:
        assert f"ok     pause-one: resumed PIDs [{paused}]" in done.stdout
    deadline = time.monotonic() + 10
    while proc_state(paused) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc_state(paused) in (None, "Z")  # resumed, it acts on its pending SIGTERM and exits
    assert wait_no_leftovers(set(), str(tmp_path)) == []
