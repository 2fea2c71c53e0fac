"""Whole runs with distributed load (`load.workers`, `harness load-worker`) on the local platform."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.procs import free_port
from tests.integration.conftest import REPO, RunningCli, harness_argv, read_json, run_cli, write_experiment

pytestmark = pytest.mark.integration

PHASES = ("baseline", "fault", "recovery")


def record_lines(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "load" / "record.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout_s:g}s")


def assert_counts_match_the_edge(result: dict[str, Any], phases: tuple[str, ...] = PHASES) -> None:
    slo = next(s for s in result["slos"] if s["name"] == "shop-availability")
    for name in phases:
        phase = slo["phases"][name]
        client = phase["client"]
        # as for a single Locust process: the edge's window shifts by under one scrape (1 s) at each edge
        assert abs(phase["total"] - client["requests"]) <= client["achieved_rps"] * 1.0, (name, phase, client)


def test_a_local_and_a_remote_worker_share_the_load_and_the_counts_agree(
        tmp_path: Path, start_cli: Callable[..., RunningCli]) -> None:
    port = free_port()
    experiment = write_experiment(tmp_path / "exp", "two-workers",
                                  load={"profile": "profile.yaml", "workers": 1, "remote_workers": 1,
                                        "master": f"127.0.0.1:{port}", "workers_timeout": "60s"})
    running = start_cli(experiment)
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(harness_argv("load-worker", "--master", f"127.0.0.1:{port}", str(experiment)),
                                  cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert running.wait(180) == 0, running.stderr()[-3000:]
        assert worker.wait(timeout=30) == 0  # it ends when the master quits
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    result = read_json(running.run_dir() / "result.json")
    assert result["verdict"] == "PASS"
    load = result["load"]
    assert load["workers"] == {"local": 1, "remote": 1, "connected": 2, "hosts": [os.uname().nodename],
                               "lost": []}
    assert load["stop"]["forced"] == []
    assert load["stop"]["tail_s"] > 0
    assert_counts_match_the_edge(result)
    hello = [line for line in record_lines(running.run_dir()) if "pid" in line and "worker" in line]
    assert worker.pid not in [h["pid"] for h in hello]  # the remote one is Locust under harness load-worker
    assert len(hello) == 2
    assert "connecting to the master at 127.0.0.1" in (tmp_path / "worker.log").read_text()


def test_a_worker_killed_mid_run_is_a_shortfall_with_its_reason(
        tmp_path: Path, start_cli: Callable[..., RunningCli]) -> None:
    experiment = write_experiment(tmp_path / "exp", "worker-killed", load={"profile": "profile.yaml", "workers": 2})
    running = start_cli(experiment)
    run_dir = running.run_dir()
    started = wait_for(lambda: next((line["started_at"] for line in record_lines(run_dir) if "started_at" in line),
                                    None), 60, "load start")
    hello = wait_for(lambda: [line for line in record_lines(run_dir) if "pid" in line], 10, "worker hello")
    time.sleep(max(0.0, started + 2 + 6 + 1.0 - time.time()))  # one second into the 8 s fault phase
    victim = int(hello[0]["pid"])
    os.kill(victim, signal.SIGKILL)
    assert running.wait(180) == 3, running.stderr()[-3000:]
    result = read_json(run_dir / "result.json")
    assert result["verdict"] == "INCONCLUSIVE"
    slo = next(s for s in result["slos"] if s["name"] == "shop-availability")
    fault = slo["phases"]["fault"]
    assert fault["verdict"] == "INCONCLUSIVE"
    assert "because load local worker" in fault["reason"] and "killed by SIGKILL" in fault["reason"], fault
    assert f"(pid {victim})" in fault["reason"]
    assert slo["phases"]["baseline"]["verdict"] == "PASS"
    assert_counts_match_the_edge(result, ("baseline",))
    (lost,) = result["load"]["workers"]["lost"]
    assert f"(pid {victim}) was lost" in lost
    assert any("was lost" in w and "moved to the other workers" in w for w in result["warnings"])
    assert "was lost" in running.stderr() and "its users move to the other workers" in running.stderr()  # live


def test_remote_workers_that_never_connect_end_the_run_with_exit_5(tmp_path: Path) -> None:
    experiment = write_experiment(tmp_path / "exp", "nobody-comes",
                                  load={"profile": "profile.yaml", "remote_workers": 2,
                                        "master": f"127.0.0.1:{free_port()}", "workers_timeout": "3s"})
    run = run_cli(experiment, tmp_path / "runs")
    assert run.exit_code == 5, run.stderr[-3000:]
    said = run.stdout + run.stderr
    assert "only 0 of 2 load workers connected within 3 s (load.workers_timeout)" in said
    assert "harness load-worker --master 127.0.0.1:" in said
    assert run.result["verdict"] == "ERROR"
    assert "only 0 of 2 load workers connected" in run.result["reason"]


def locust_pids(load_dir: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.readlink(proc / "cwd") == str(load_dir) and \
                    b"locust" in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_the_load_generator_dying_mid_run_is_said_at_once(
        tmp_path: Path, start_cli: Callable[..., RunningCli]) -> None:
    experiment = write_experiment(tmp_path / "exp", "locust-dies")
    running = start_cli(experiment)
    run_dir = running.run_dir()
    started = wait_for(lambda: next((line["started_at"] for line in record_lines(run_dir) if "started_at" in line),
                                    None), 60, "load start")
    (pid,) = wait_for(lambda: locust_pids(run_dir / "load"), 10, "the Locust process")
    time.sleep(max(0.0, started + 2 + 6 + 1.0 - time.time()))  # one second into the fault phase
    os.kill(pid, signal.SIGKILL)
    assert running.wait(180) == 3, running.stderr()[-3000:]
    said = f"the load generator (Locust, pid {pid}) was killed by SIGKILL"
    assert said in running.stderr()
    result = read_json(run_dir / "result.json")
    assert any(w.startswith(said) and "the rest of the run has no load" in w for w in result["warnings"])
    slo = next(s for s in result["slos"] if s["name"] == "shop-availability")
    assert slo["phases"]["fault"]["verdict"] == "INCONCLUSIVE"
    assert slo["phases"]["recovery"]["verdict"] == "INCONCLUSIVE"
