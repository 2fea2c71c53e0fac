"""The faults that call out (process, http, chaostoolkit), through FaultRunner with a fake platform.

Real subprocesses, a real loopback HTTP server and real Chaos Toolkit activities; no platform.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.procs import free_port
from harness.run.faultrunner import FaultRecord, FaultRunner
from harness.run.journal import pending
from tests.faults import (
    FakePlatform,
    RecordingServer,
    events,
    load_faults,
    make_runner,
    slot_of,
    write_experiment,
)

PROBE = "tests.faults.ctk_probe_module"


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


def _inject(tmp_path: Path, fault: dict[str, Any]) -> tuple[FaultRunner, FaultRecord]:
    experiment = write_experiment(tmp_path, [fault])
    runner = make_runner(tmp_path / "run", experiment, FakePlatform())
    return runner, runner.inject(slot_of(load_faults(experiment), 0))


def _process(start: list[str], stop: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": "proc", "type": "process", "duration": "10s", "start": start, "stop": stop, **extra}


def _activity(name: str, func: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "action", "name": name,
            "provider": {"type": "python", "module": PROBE, "func": func, "arguments": arguments}}


# --- process ---------------------------------------------------------------------------------------------

def test_process_fault_runs_start_then_stop_in_the_experiment_folder(tmp_path: Path) -> None:
    runner, record = _inject(tmp_path, _process(["sh", "-c", "echo on > marker"], ["rm", "marker"]))
    marker = tmp_path / "marker"  # relative to the experiment file's folder
    assert record.error is None
    assert marker.read_text() == "on\n"
    assert record.targets == ("sh -c 'echo on > marker'",)  # the whole argv, secrets masked
    assert record.active
    runner.revert("proc")
    assert not marker.exists()
    assert (record.reverted, record.revert_error, record.active) == (True, None, False)
    assert events(tmp_path / "run") == ["intent", "applied", "reverted"]
    runner.verify_all()
    assert record.check is not None and record.check.took_effect is True


def test_failing_process_start_is_recorded_and_its_stop_still_runs(tmp_path: Path) -> None:
    start = ["sh", "-c", "echo half-applied >&2; exit 3"]
    runner, record = _inject(tmp_path, _process(start, ["sh", "-c", "echo undone > stopped"]))
    assert record.error is not None
    # its output is never echoed: a command given a token may print it
    assert record.error == "injection failed: proc start: sh exited with 3"
    runner.verify_all()
    assert record.check is not None
    assert (record.check.took_effect, record.check.observed) == (False, record.error)
    # a start that failed half-way may still have changed something: its stop runs once, right away,
    # but it was never applied: not "reverted", journalled as failed, nothing left for `harness rollback`
    assert (tmp_path / "stopped").read_text() == "undone\n"
    runner.revert_all()
    assert (record.reverted, record.revert_error) == (None, None)
    assert events(tmp_path / "run") == ["intent", "apply-failed"]
    assert pending(tmp_path / "run") == []


def test_failing_process_stop_leaves_the_fault_pending_for_rollback(tmp_path: Path) -> None:
    runner, record = _inject(tmp_path, _process(["true"], ["sh", "-c", "echo cannot >&2; exit 4"]))
    assert record.error is None
    runner.revert_all()  # never raises
    assert record.reverted is False
    assert record.revert_error == "proc stop: sh exited with 4"
    assert events(tmp_path / "run") == ["intent", "applied", "revert-failed"]
    assert [p.fault for p in pending(tmp_path / "run")] == ["proc"]


def test_process_start_past_its_timeout_is_an_injection_error(tmp_path: Path) -> None:
    _, record = _inject(tmp_path, _process(["sleep", "5"], ["true"], timeout="300ms"))
    assert record.error == "injection failed: proc start: sleep did not finish within 0.3s"


def test_missing_program_is_named(tmp_path: Path) -> None:
    _, record = _inject(tmp_path, _process(["no-such-program-here"], ["true"]))
    assert record.error == "injection failed: proc start: program 'no-such-program-here' not found"


# --- http ------------------------------------------------------------------------------------------------

def _http(url: str, **start: Any) -> dict[str, Any]:
    return {"name": "switch", "type": "http", "duration": "5s",
            "start": {"url": f"{url}/start", "body": {"on": True}, **start},
            "stop": {"url": f"{url}/stop", "method": "DELETE", "timeout": "2s"}}


def test_http_fault_calls_start_then_stop(tmp_path: Path, server: RecordingServer) -> None:
    runner, record = _inject(tmp_path, _http(server.url, headers={"X-Team": "shop"}))
    assert record.error is None
    assert [(r.method, r.path) for r in server.seen] == [("POST", "/start")]
    assert server.seen[0].headers["X-Team"] == "shop"
    assert json.loads(server.seen[0].body) == {"on": True}
    assert record.targets == (f"{server.url}/start",)
    assert record.details["result"] == f"POST {server.url}/start → HTTP 200"
    runner.revert("switch")
    assert [(r.method, r.path) for r in server.seen] == [("POST", "/start"), ("DELETE", "/stop")]
    assert record.reverted is True


def test_http_fault_with_an_unexpected_status_fails_with_a_clear_message(
    tmp_path: Path, server: RecordingServer
) -> None:
    server.status = 500
    runner, record = _inject(tmp_path, _http(server.url))
    assert record.error == (f"injection failed: switch start: POST {server.url}/start answered HTTP 500, "
                            "expected one of [200, 201, 202, 204]")
    runner.revert_all()
    # the stop ran once as a best-effort cleanup and failed too: a failed injection, not a failed revert
    assert (record.reverted, record.revert_error) == (None, None)
    cleanup = str(record.details["cleanup"])
    assert cleanup.startswith("best-effort undo after the failed injection did not run cleanly: "
                              f"switch stop: DELETE {server.url}/stop answered HTTP 500")
    assert pending(tmp_path / "run") == []


def test_http_fault_status_list_is_honoured(tmp_path: Path, server: RecordingServer) -> None:
    server.status = 409
    _, record = _inject(tmp_path, _http(server.url, expect_status=[409]))
    assert record.error is None
    assert server.paths("POST") == ["/start"]


def test_http_fault_to_a_closed_port_names_the_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    _, record = _inject(tmp_path, _http(url, timeout="2s"))
    assert record.error == f"injection failed: switch start: POST {url}/start failed: ConnectionError"


# --- chaostoolkit ----------------------------------------------------------------------------------------

def _ctk(action: dict[str, Any], rollback: dict[str, Any] | None) -> dict[str, Any]:
    fault: dict[str, Any] = {"name": "ctk", "type": "chaostoolkit", "action": action}
    if rollback is not None:
        fault |= {"rollback": rollback, "duration": "5s"}
    return fault


def test_chaostoolkit_action_runs_and_its_rollback_runs_on_revert(tmp_path: Path) -> None:
    marker = tmp_path / "ctk.marker"
    action = _activity("mark", "create_marker", path=str(marker), text="chaos")
    runner, record = _inject(tmp_path, _ctk(action, _activity("unmark", "remove_marker", path=str(marker))))
    assert record.error is None
    assert marker.read_text() == "chaos"
    assert record.targets == ("tests.faults.ctk_probe_module.create_marker",)
    assert record.details["result"] == "Chaos Toolkit activity 'mark' ran"
    runner.revert("ctk")
    assert not marker.exists()
    assert record.reverted is True
    assert events(tmp_path / "run") == ["intent", "applied", "reverted"]


def test_chaostoolkit_action_without_rollback_is_instant(tmp_path: Path) -> None:
    marker = tmp_path / "ctk.marker"
    _, record = _inject(tmp_path, _ctk(_activity("mark", "create_marker", path=str(marker)), None))
    assert marker.exists()
    assert (record.reverted, record.active, record.undo) == (None, False, None)
    assert pending(tmp_path / "run") == []


@pytest.mark.parametrize(
    ("activity", "expected"),
    [
        pytest.param(_activity("boom", "explode", message="disk on fire"),
                     "the Chaos Toolkit activity failed: RuntimeError: disk on fire", id="provider_raises"),
        pytest.param({"type": "action", "name": "ghost",
                      "provider": {"type": "python", "module": "tests.faults.no_such_module", "func": "f"}},
                     "the Chaos Toolkit activity raised ModuleNotFoundError", id="module_missing"),
    ],
)
def test_chaostoolkit_action_that_fails_is_recorded_not_raised(
    tmp_path: Path, activity: dict[str, Any], expected: str
) -> None:
    marker = tmp_path / "rolled-back"
    rollback = _activity("undo", "create_marker", path=str(marker))
    runner, record = _inject(tmp_path, _ctk(activity, rollback))
    assert record.error is not None
    assert record.error.startswith("injection failed: ctk action: ")
    assert expected in record.error
    assert marker.exists()  # the rollback still runs once after a failed action, in case it half worked
    runner.revert_all()
    assert record.reverted is None


def test_chaostoolkit_rollback_that_fails_is_a_revert_error(tmp_path: Path) -> None:
    marker = tmp_path / "ctk.marker"
    action = _activity("mark", "create_marker", path=str(marker))
    runner, record = _inject(tmp_path, _ctk(action, _activity("undo", "explode", message="stuck")))
    runner.revert_all()
    assert record.reverted is False
    assert record.revert_error == "ctk rollback: the Chaos Toolkit activity failed: RuntimeError: stuck"
    assert events(tmp_path / "run") == ["intent", "applied", "revert-failed"]
