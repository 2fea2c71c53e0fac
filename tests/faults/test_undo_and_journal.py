"""The rollback journal and the undo recipes: what is written when, and `harness rollback` replaying it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.cli import commands
from harness.errors import FaultError
from harness.faults import recipes, types, undo
from harness.faults.base import FaultCheck, FaultContext, Prepared
from harness.procs import free_port, pid_alive
from harness.run.journal import JOURNAL_NAME, Journal, Pending, pending, rollback
from harness.spec.faults import FaultBase
from tests.faults import (
    FakePlatform,
    RecordingServer,
    events,
    journal_entries,
    live_group_members,
    load_faults,
    make_runner,
    process_state,
    slot_of,
    write_experiment,
)

SECRET = "s3cr3t-token-value"


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group with a grandchild: something to pause, resume and kill."""
    proc = subprocess.Popen(["sh", "-c", "sleep 30 & exec sleep 30"], start_new_session=True)
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)


def _wait_state(pid: int, wanted: str, timeout_s: float = 2.0) -> str:
    deadline = time.monotonic() + timeout_s
    while (state := process_state(pid)) not in wanted and time.monotonic() < deadline:
        time.sleep(0.01)
    return state


def _wait_group_gone(pgid: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    raise AssertionError(f"process group {pgid} still exists after {timeout_s} s")


def _process_fault(start: str, stop: str) -> dict[str, Any]:
    return {"name": "proc", "type": "process", "duration": "10s", "start": ["sh", "-c", start],
            "stop": ["sh", "-c", stop]}


# --- what is journalled, and when -----------------------------------------------------------------------

def test_intent_is_journalled_before_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = tmp_path / "run"
    seen_during_apply: list[list[dict[str, Any]]] = []

    def driver(fault: FaultBase, ctx: FaultContext) -> Prepared:
        def apply() -> Mapping[str, Any]:
            seen_during_apply.append(journal_entries(run_dir))
            return {"done": True}

        return Prepared(("target-a",), recipes.resume([4242]), apply)

    monkeypatch.setitem(types.BUILT_IN, "process", replace(types.BUILT_IN["process"], prepare=driver))
    experiment = write_experiment(tmp_path, [_process_fault("true", "true")])
    runner = make_runner(run_dir, experiment, FakePlatform())
    record = runner.inject(slot_of(load_faults(experiment), 0))
    [before] = seen_during_apply
    assert [(e["event"], e["fault"]) for e in before] == [("intent", "proc")]
    assert before[0]["undo"] == {"kind": "resume", "pids": [4242], "start_times": [None]}
    assert before[0]["targets"] == ["target-a"]
    assert events(run_dir) == ["intent", "applied"]
    assert record.details == {"done": True}


def test_intent_stands_when_apply_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def driver(fault: FaultBase, ctx: FaultContext) -> Prepared:
        def apply() -> Mapping[str, Any]:
            raise FaultError("the proxy hung up half-way")

        return Prepared(("shop-1",), recipes.proxy_fault("http://127.0.0.1:9", "lat"), apply)

    monkeypatch.setitem(types.BUILT_IN, "process", replace(types.BUILT_IN["process"], prepare=driver))
    experiment = write_experiment(tmp_path, [_process_fault("true", "true")])
    runner = make_runner(tmp_path / "run", experiment, FakePlatform())
    record = runner.inject(slot_of(load_faults(experiment), 0))
    assert record.error == "injection failed: the proxy hung up half-way"
    # never applied: journalled as failed, its undo run once in case it half worked, nothing left pending
    assert events(tmp_path / "run") == ["intent", "apply-failed"]
    assert record.details == {"cleanup": "fault proxy at http://127.0.0.1:9 is gone, and 'lat' with it"}
    assert (record.reverted, record.check) == (None, FaultCheck(False, "injection failed: the proxy hung up half-way"))
    assert pending(tmp_path / "run") == []


def test_pending_lists_unreverted_recipes_newest_first_and_ignores_a_torn_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.write("intent", "first", undo=recipes.resume([11]))
    journal.write("applied", "first", undo=None)
    journal.write("intent", "killer", undo=None)  # a pod kill: nothing to undo
    journal.write("intent", "done", undo=recipes.resume([22]))
    journal.write("reverted", "done", result="ok")
    journal.write("intent", "stress", undo=None)
    journal.write("applied", "stress", undo=recipes.kill_group([33]))  # known only once applied
    journal.write("intent", "last", undo=recipes.proxy_fault("http://127.0.0.1:9", "last"))
    with open(tmp_path / JOURNAL_NAME, "a") as handle:
        handle.write('{"event": "reverted", "fault": "la')  # the run died mid-write
    assert pending(tmp_path) == [
        Pending("last", recipes.proxy_fault("http://127.0.0.1:9", "last")),
        Pending("stress", recipes.kill_group([33])),
        Pending("first", recipes.resume([11])),
    ]


def test_no_journal_means_nothing_pending(tmp_path: Path) -> None:
    assert pending(tmp_path) == []
    assert rollback(tmp_path) == []


# --- rollback replays each recipe -----------------------------------------------------------------------

def test_rollback_replays_each_recipe_once(
    tmp_path: Path, server: RecordingServer, sleeper: subprocess.Popen[bytes]
) -> None:
    os.kill(sleeper.pid, signal.SIGSTOP)
    assert _wait_state(sleeper.pid, "T") == "T"
    stressed = subprocess.Popen(["sh", "-c", "sleep 30 & exec sleep 30"], start_new_session=True)
    journal = Journal(tmp_path)
    journal.write("intent", "paused", undo=recipes.resume([sleeper.pid]))
    journal.write("intent", "lat", undo=recipes.proxy_fault(server.url, "lat"))
    journal.write("applied", "stress", undo=recipes.kill_group([stressed.pid]))
    outcomes = rollback(tmp_path)
    stressed.wait(timeout=5)
    assert [(o.fault, o.ok) for o in outcomes] == [("stress", True), ("lat", True), ("paused", True)]
    assert outcomes[0].message == f"stopped process groups [{stressed.pid}]"
    assert outcomes[1].message == "removed 'lat' from the fault proxy"
    assert outcomes[2].message == f"resumed PIDs [{sleeper.pid}]"
    assert live_group_members(stressed.pid) == []
    assert _wait_state(sleeper.pid, "SR") in "SR"
    assert server.paths("DELETE") == ["/faults/lat"]
    assert sorted(e["fault"] for e in journal_entries(tmp_path) if e["event"] == "reverted") == [
        "lat", "paused", "stress"]
    assert rollback(tmp_path) == []
    assert server.paths("DELETE") == ["/faults/lat"]


def test_undo_recipes_are_harmless_twice(sleeper: subprocess.Popen[bytes], server: RecordingServer) -> None:
    os.kill(sleeper.pid, signal.SIGSTOP)
    assert undo.apply_undo(recipes.resume([sleeper.pid])) == f"resumed PIDs [{sleeper.pid}]"
    assert undo.apply_undo(recipes.resume([sleeper.pid])) == f"resumed PIDs [{sleeper.pid}]"
    assert _wait_state(sleeper.pid, "SR") in "SR"
    assert undo.apply_undo(recipes.proxy_fault(server.url, "x")) == "removed 'x' from the fault proxy"
    server.status = 404  # already gone: still undone
    assert undo.apply_undo(recipes.proxy_fault(server.url, "x")) == "removed 'x' from the fault proxy"
    gone = f"http://127.0.0.1:{free_port()}"
    assert undo.apply_undo(recipes.proxy_fault(gone, "x")) == f"fault proxy at {gone} is gone, and 'x' with it"
    os.killpg(sleeper.pid, signal.SIGKILL)
    sleeper.wait(timeout=5)
    assert not pid_alive(sleeper.pid)
    _wait_group_gone(sleeper.pid)  # its orphaned child lingers as a zombie until init reaps it
    assert undo.apply_undo(recipes.resume([sleeper.pid])) == "nothing left to do (processes gone)"
    assert undo.apply_undo(recipes.kill_group([sleeper.pid])) == "nothing left to do (processes gone)"


def test_unknown_recipe_is_a_fault_error() -> None:
    with pytest.raises(FaultError, match="unknown undo recipe 'teleport'"):
        undo.apply_undo({"kind": "teleport"})


def test_failing_undo_is_recorded_reported_and_retried(tmp_path: Path, server: RecordingServer) -> None:
    server.status = 500
    Journal(tmp_path).write("intent", "lat", undo=recipes.proxy_fault(server.url, "lat"))
    [failed] = rollback(tmp_path)
    assert not failed.ok
    assert failed.message == f"the fault proxy at {server.url} refused to remove 'lat': HTTP 500"
    assert events(tmp_path) == ["intent", "revert-failed"]
    assert journal_entries(tmp_path)[-1]["by"] == "harness rollback"
    server.status = 200
    [retried] = rollback(tmp_path)
    assert retried.ok
    assert server.paths("DELETE") == ["/faults/lat", "/faults/lat"]
    assert events(tmp_path) == ["intent", "revert-failed", "reverted"]
    assert rollback(tmp_path) == []


def test_rollback_command_exit_codes_and_output(
    tmp_path: Path, server: RecordingServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert commands.rollback(tmp_path) == 2
    assert "no rollback.jsonl here" in capsys.readouterr().err
    server.status = 503
    Journal(tmp_path).write("intent", "lat", undo=recipes.proxy_fault(server.url, "lat"))
    assert commands.rollback(tmp_path) == 5
    assert capsys.readouterr().out.startswith("FAILED lat: the fault proxy")
    server.status = 200
    assert commands.rollback(tmp_path) == 0
    assert capsys.readouterr().out == "ok     lat: removed 'lat' from the fault proxy\n"
    assert commands.rollback(tmp_path) == 0
    assert "nothing to roll back" in capsys.readouterr().out


# --- faults configured from the experiment file: re-read at undo time, secrets never on disk --------------

def _secret_http_fault(url: str) -> dict[str, Any]:
    auth = {"Authorization": "Bearer ${TOKEN}"}
    return {"name": "flag", "type": "http", "duration": "5s",
            "start": {"url": f"{url}/flags/on", "headers": auth},
            "stop": {"url": f"{url}/flags/off", "headers": auth}}


def test_http_secret_stays_off_disk_and_rollback_rereads_it(
    tmp_path: Path, server: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN", SECRET)
    faults = [{"name": "first", "type": "pod-kill"}, _secret_http_fault(server.url)]
    experiment = write_experiment(tmp_path, faults)
    run_dir = tmp_path / "run"
    record = make_runner(run_dir, experiment, FakePlatform()).inject(slot_of(load_faults(experiment), 1))
    assert record.error is None
    assert [(r.path, r.headers["Authorization"]) for r in server.seen] == [("/flags/on", f"Bearer {SECRET}")]
    recipe = {"kind": "experiment-fault", "experiment": str(experiment), "fault_index": 1, "fault_name": "flag"}
    assert pending(run_dir) == [Pending("flag", recipe)]
    # the run crashes here; later, in a shell where TOKEN is exported again:
    [outcome] = rollback(run_dir)
    assert outcome.ok, outcome.message
    stop = server.seen[-1]
    assert (stop.method, stop.path) == ("POST", "/flags/off")
    assert stop.headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in (run_dir / JOURNAL_NAME).read_text()
    assert rollback(run_dir) == []


def test_rollback_uses_the_environment_it_is_given(tmp_path: Path, server: RecordingServer) -> None:
    experiment = write_experiment(tmp_path, [_secret_http_fault(server.url)])
    Journal(tmp_path).write("intent", "flag", undo=recipes.experiment_fault(experiment, 0, "flag"))
    [outcome] = rollback(tmp_path, environ={"TOKEN": "from-the-caller"})
    assert outcome.ok
    assert server.seen[-1].headers["Authorization"] == "Bearer from-the-caller"


def test_rollback_without_the_secret_fails_that_fault_only(tmp_path: Path, server: RecordingServer) -> None:
    experiment = write_experiment(tmp_path, [_secret_http_fault(server.url)])
    journal = Journal(tmp_path)
    journal.write("intent", "lat", undo=recipes.proxy_fault(server.url, "lat"))
    journal.write("intent", "flag", undo=recipes.experiment_fault(experiment, 0, "flag"))
    outcomes = rollback(tmp_path, environ={})
    assert [(o.fault, o.ok) for o in outcomes] == [("flag", False), ("lat", True)]
    assert "environment variable TOKEN is not set" in outcomes[0].message
    assert server.paths() == ["/faults/lat"]
    assert [p.fault for p in pending(tmp_path)] == ["flag"]


def test_rollback_of_an_experiment_fault_whose_file_is_gone_is_reported(tmp_path: Path) -> None:
    Journal(tmp_path).write("intent", "proc", undo=recipes.experiment_fault(tmp_path / "moved.yaml", 0, "proc"))
    [outcome] = rollback(tmp_path)
    assert (outcome.fault, outcome.ok) == ("proc", False)
    assert outcome.message.startswith(f"cannot re-read fault 0 of {tmp_path / 'moved.yaml'} to undo it (")
    assert "moved.yaml: file not found" in outcome.message
    assert events(tmp_path) == ["intent", "revert-failed"]


def test_rollback_never_runs_another_faults_stop_after_the_file_was_edited(
    tmp_path: Path, server: RecordingServer
) -> None:
    experiment = write_experiment(tmp_path, [_secret_http_fault(server.url)])
    Journal(tmp_path).write("intent", "renamed", undo=recipes.experiment_fault(experiment, 0, "renamed"))
    [outcome] = rollback(tmp_path, environ={"TOKEN": "t"})
    assert (outcome.fault, outcome.ok) == ("renamed", False)
    assert "is now 'flag', not 'renamed'" in outcome.message
    assert server.seen == []


def test_rollback_replays_a_process_fault_left_behind(tmp_path: Path) -> None:
    experiment = write_experiment(tmp_path, [_process_fault("echo on > marker", "rm marker")])
    run_dir = tmp_path / "run"
    make_runner(run_dir, experiment, FakePlatform()).inject(slot_of(load_faults(experiment), 0))
    assert (tmp_path / "marker").exists()
    [outcome] = rollback(run_dir)  # the runner never reverted: as after a crash
    assert (outcome.ok, outcome.message) == (True, "sh exited 0")
    assert not (tmp_path / "marker").exists()
    assert events(run_dir) == ["intent", "applied", "reverted"]


def test_rollback_replays_a_chaostoolkit_rollback_left_behind(tmp_path: Path) -> None:
    marker = tmp_path / "ctk.marker"
    def activity(name: str, func: str) -> dict[str, Any]:
        provider = {"type": "python", "module": "tests.faults.ctk_probe_module", "func": func,
                    "arguments": {"path": str(marker)}}
        return {"type": "action", "name": name, "provider": provider}

    fault = {"name": "ctk", "type": "chaostoolkit", "duration": "5s",
             "action": activity("mark", "create_marker"), "rollback": activity("unmark", "remove_marker")}
    experiment = write_experiment(tmp_path, [fault])
    make_runner(tmp_path / "run", experiment, FakePlatform()).inject(slot_of(load_faults(experiment), 0))
    assert marker.exists()
    [outcome] = rollback(tmp_path / "run")
    assert (outcome.ok, outcome.message) == (True, "Chaos Toolkit activity 'unmark' ran")
    assert not marker.exists()
    entries = journal_entries(tmp_path / "run")
    assert json.dumps(entries).count("remove_marker") == 0  # the recipe points at the file, not its content


def test_a_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    import subprocess

    proc = subprocess.Popen(["sleep", "30"])
    try:
        recipe = dict(recipes.resume([proc.pid]))
        recipe["start_times"] = [1]  # as if the paused process had died and its PID gone to this one
        os.kill(proc.pid, signal.SIGSTOP)
        assert _wait_state(proc.pid, "T") == "T"
        assert undo.apply_undo(recipe) == "nothing left to do (processes gone)"
        time.sleep(0.1)
        assert process_state(proc.pid) == "T"  # untouched
        assert undo.apply_undo(recipes.resume([proc.pid])).startswith("resumed")
        assert _wait_state(proc.pid, "SR") in "SR"
    finally:
        proc.kill()
        proc.wait()
