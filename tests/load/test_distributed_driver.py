"""Distributed load for real: a Locust master and worker processes against a tiny counting server."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import LoadError
from harness.load import LoadConfig, LoadRun, RequestSpec, Stage, start_load
from harness.load.config import PLAN_ENV
from harness.load.distributed import worker_options
from harness.load.driver import STOP_GRACE_S, STOP_TIMEOUT_S, child_env, locust_argv
from harness.load.record import read_record
from harness.procs import free_port, pid_alive
from tests.load.test_load_driver import CountingServer, _group_members, _poll, serving

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[CountingServer]:
    with serving(CountingServer()) as srv:
        yield srv


def paced(host: str, **kwargs: object) -> LoadConfig:
    settings: dict[str, object] = {
        "host": host, "stages": (Stage(20.0, 10, 100.0),), "run_s": 6.0,
        "requests": (RequestSpec("ok", "GET", "/ok"),), "throughput_per_user": 10.0, **kwargs}
    return LoadConfig(**settings)  # type: ignore[arg-type]


def assert_all_gone(run: LoadRun) -> None:
    for pid in (run.pid, *(w.proc.pid for w in run.workers)):
        assert not pid_alive(pid), pid
        assert _group_members(pid) == [], pid


def test_two_workers_count_what_the_server_received(server: CountingServer, tmp_path: Path) -> None:
    run = start_load(paced(server.url, workers=2), tmp_path)
    try:
        assert len(run.workers) == 2
        assert run.wait(30.0) == 0  # the master stops at run_s and tells its workers to quit
    finally:
        stopped = run.stop()
    assert_all_gone(run)
    assert stopped.forced == () and stopped.workers_gone == ()
    record = read_record(run.record_path)
    assert record.stopped_at is not None
    hello = [e for e in record.worker_events if e.kind == "hello"]
    assert sorted(int(e.detail["pid"]) for e in hello) == sorted(w.proc.pid for w in run.workers)
    assert record.workers_lost() == ()
    # Every request the workers sent is in the master's record, once: the server's count is the truth.
    total = run.window(math.floor(run.started_at), math.ceil(record.stopped_at) + 1.0)
    assert total.requests == len(server.arrivals)
    # the users of both workers add up to the shape's 10, and both workers carried load
    full = [users for second, users in record.users.items() if run.started_at + 1.5 < second < run.started_at + 5]
    assert full and set(full) == {10}
    steady = run.window(run.started_at + 1.0, run.started_at + 5.0)
    assert steady.achieved_rps == pytest.approx(100.0, rel=0.1)
    for worker in run.workers:
        assert worker.log_path.is_file()


def test_a_killed_worker_is_reported_and_its_users_move(server: CountingServer, tmp_path: Path) -> None:
    run = start_load(paced(server.url, workers=2, run_s=14.0), tmp_path)
    victim = run.workers[0]
    try:
        assert _poll(lambda: run.latest(1.0).requests > 50, timeout_s=5.0)
        os.kill(victim.proc.pid, signal.SIGKILL)
        killed_at = time.time()
        record_has_loss = _poll(lambda: read_record(run.record_path).workers_lost() != (), timeout_s=10.0)
        assert run.wait(30.0) == 0
    finally:
        stopped = run.stop()
    assert_all_gone(run)
    assert record_has_loss
    assert stopped.workers_gone == (f"worker 1 (pid {victim.proc.pid}) was killed by SIGKILL",)
    record = read_record(run.record_path)
    (lost,) = record.workers_lost()
    hello = next(e for e in record.worker_events if e.kind == "hello" and e.worker == lost.worker)
    assert hello.detail["pid"] == victim.proc.pid
    assert killed_at < lost.at < killed_at + 8.0  # Locust's heartbeat: missing after ~3-5 s
    # the short load after the loss, then the rebalanced users on the other worker
    after = run.window(math.ceil(killed_at) + 1, math.floor(lost.at))
    assert after.achieved_rps < 0.8 * 100.0
    back = run.window(lost.at + 2.0, run.started_at + 13.0)
    assert back.achieved_rps == pytest.approx(100.0, rel=0.15)


def test_remote_workers_that_never_come_stop_the_start(server: CountingServer, tmp_path: Path) -> None:
    config = paced(server.url, workers=1, remote_workers=1, master_port=free_port(), workers_timeout_s=2.0)
    started = time.monotonic()
    with pytest.raises(LoadError) as caught:
        start_load(config, tmp_path)
    assert "only 1 of 2 load workers connected within 2 s (load.workers_timeout)" in str(caught.value)
    assert "harness load-worker --master 127.0.0.1:" in str(caught.value)
    assert time.monotonic() - started < 30.0
    plan = tmp_path / "load" / "plan.json"
    assert not any(f"{PLAN_ENV}={plan}" in _environ(pid) for pid in _python_pids())  # master and worker gone
    assert server.arrivals == []


def test_a_worker_with_another_plan_is_refused(server: CountingServer, tmp_path: Path) -> None:
    port = free_port()
    config = paced(server.url, workers=1, remote_workers=1, master_port=port, workers_timeout_s=20.0)
    stranger_dir = tmp_path / "stranger"
    stranger_dir.mkdir()
    other = paced(server.url, requests=(RequestSpec("other", "GET", "/other"),))
    plan_path = stranger_dir / "plan.json"
    plan_path.write_text(json.dumps({**other.to_plan(stranger_dir / "unused.jsonl"), "users_sha256": "x"}))
    with open(stranger_dir / "worker.log", "wb") as log:
        stranger = subprocess.Popen([*locust_argv(None, server.url), *worker_options("127.0.0.1", port)],
                                    env=child_env({PLAN_ENV: str(plan_path)}), stdout=log, stderr=subprocess.STDOUT,
                                    cwd=stranger_dir)
    try:
        with pytest.raises(LoadError, match="was refused: it runs a different load plan"):
            start_load(config, tmp_path)
        assert stranger.wait(timeout=20.0) is not None  # told to quit
    finally:
        if stranger.poll() is None:
            stranger.kill()
            stranger.wait()


IGNORES_SIGINT = """
import signal
from locust import HttpUser, task

signal.signal(signal.SIGINT, signal.SIG_IGN)  # a locustfile that swallows the stop signal


class Stubborn(HttpUser):
    @task
    def home(self):
        self.client.get("/ok")
"""


def test_a_load_that_ignores_the_stop_is_killed_on_time_and_says_so(server: CountingServer, tmp_path: Path) -> None:
    locustfile = tmp_path / "stubborn.py"
    locustfile.write_text(IGNORES_SIGINT)
    run = start_load(paced(server.url, requests=(), locustfile=locustfile, run_s=60.0), tmp_path)
    assert _poll(lambda: run.latest(1.0).requests > 0, timeout_s=5.0)
    stopped = run.stop()
    assert stopped.forced == (f"Locust (pid {run.pid})",)
    assert stopped.after_s < STOP_TIMEOUT_S + STOP_GRACE_S + 1.0
    assert not run.is_running()
    assert_all_gone(run)
    quiet = time.time()
    time.sleep(0.5)
    assert [t for t, _ in server.arrivals if t > quiet] == []
    assert run.stop() is stopped  # idempotent


def test_users_spawned_together_send_their_paced_requests_spread_out(server: CountingServer, tmp_path: Path) -> None:
    # 40 users spawned in one batch, 2 requests/s each: unstaggered, all 40 fire within a few ms every 0.5 s
    config = paced(server.url, stages=(Stage(20.0, 40, 1000.0),), throughput_per_user=2.0, run_s=5.0)
    run = start_load(config, tmp_path)
    try:
        assert run.wait(30.0) == 0
    finally:
        run.stop()
    steady = sorted(t for t, _ in server.arrivals if run.started_at + 1.5 <= t < run.started_at + 4.5)
    assert len(steady) == pytest.approx(3.0 * 80, rel=0.1)
    busiest = max(sum(1 for u in steady[i:] if u < t + 0.02) for i, t in enumerate(steady))
    # spread evenly, 80 req/s put ~1.6 requests in a 20 ms window; a burst would put 40 there
    assert busiest <= 10, busiest


def _python_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _environ(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().replace(b"\0", b"\n").decode(errors="replace")
    except OSError:
        return ""
