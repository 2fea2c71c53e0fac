"""Runbook files: validation with file and field, and steps that fail, time out, are cancelled or
reference a missing variable (real commands and a real local HTTP server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli.main import main
from harness.errors import SpecError
from harness.remediation.runbook import RunbookContext, run_runbook
from harness.spec.loader import load_runbook


def _runbook(folder: Path, steps: list[dict[str, Any]], name: str = "rb") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "harness/v1", "kind": "Runbook", "metadata": {"name": name},
                                    "steps": steps}, sort_keys=False))
    return path


@pytest.mark.parametrize(("step", "message"), [
    pytest.param({"name": "s", "ssh": {"host": "x"}}, "steps[0]: unknown step kind 'ssh': use one of http, command, "
                 "chaostoolkit, wait_for", id="unknown_kind"),
    pytest.param({"name": "s", "command": "systemctl restart shop"}, "steps[0].command: give the command as an argv "
                 "list like [systemctl, restart, shop], not a string", id="command_as_string"),
    pytest.param({"name": "s", "wait_for": {"query": "up == 1"}}, "steps[0].wait_for.within: required field is "
                 "missing", id="wait_for_without_limit"),
    pytest.param({"name": "s", "http": {"url": "${HARNESS_TEST_NO_SUCH_VAR}/x"}}, "steps[0].http.url: environment "
                 "variable HARNESS_TEST_NO_SUCH_VAR is not set", id="missing_variable"),
    pytest.param({"name": "s", "command": ["true"], "http": {"url": "http://x"}}, "steps[0]: give exactly one step "
                 "kind of http, command, chaostoolkit, wait_for, got 2", id="two_kinds"),
])
def test_invalid_steps_name_the_file_and_field(tmp_path: Path, step: dict[str, Any], message: str) -> None:
    path = _runbook(tmp_path, [step])
    with pytest.raises(SpecError) as caught:
        load_runbook(path, {})
    assert any(p.startswith(f"{path}:") and message in p for p in caught.value.problems), caught.value.problems


def test_cli_refuses_an_invalid_runbook_before_any_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "ran"
    path = _runbook(tmp_path, [{"name": "mark", "command": ["touch", str(marker)]},
                               {"name": "bad", "command": "rm -rf /tmp/x"}])
    assert main(["runbook", "run", str(path)]) == 2
    assert "steps[1].command: give the command as an argv list" in capsys.readouterr().err
    assert not marker.exists()


def test_a_failing_step_stops_the_runbook(tmp_path: Path) -> None:
    marker = tmp_path / "after"
    path = _runbook(tmp_path, [{"name": "ok", "command": ["true"]}, {"name": "fails", "command": ["false"]},
                               {"name": "never", "command": ["touch", str(marker)]}])
    outcome = run_runbook(path, "test", RunbookContext(cwd=tmp_path))
    assert not outcome.ok
    assert [(s.name, s.result) for s in outcome.steps] == [("ok", "ok"), ("fails", "failed")]
    assert outcome.reason == "step 'fails' (command) failed: false exited with 1"
    assert not marker.exists()


def test_a_command_that_overruns_is_killed_and_timed_out(tmp_path: Path) -> None:
    path = _runbook(tmp_path, [{"name": "slow", "command": {"argv": ["sleep", "30"], "timeout": "300ms"}}])
    started = time.monotonic()
    outcome = run_runbook(path, "test", RunbookContext(cwd=tmp_path))
    assert time.monotonic() - started < 5
    assert outcome.steps[0].result == "timed out"
    assert outcome.steps[0].detail == "sleep did not finish within 0.3s (killed)"


def test_a_missing_variable_at_run_time_runs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "ran"
    path = _runbook(tmp_path, [{"name": "mark", "command": ["touch", str(marker)]},
                               {"name": "call", "http": {"url": "${HARNESS_TEST_GONE}/restart"}}])
    monkeypatch.delenv("HARNESS_TEST_GONE", raising=False)
    outcome = run_runbook(path, "test", RunbookContext(cwd=tmp_path))
    assert not outcome.ok and outcome.steps == ()
    assert "environment variable HARNESS_TEST_GONE is not set" in outcome.reason
    assert not marker.exists()


def test_wait_for_without_prometheus_fails(tmp_path: Path) -> None:
    path = _runbook(tmp_path, [{"name": "wait", "wait_for": {"query": "up == 1", "within": "1s"}}])
    outcome = run_runbook(path, "test", RunbookContext(cwd=tmp_path))
    assert outcome.steps[0].result == "failed"
    assert "no Prometheus" in outcome.steps[0].detail


def test_a_cancelled_runbook_stops_its_command(tmp_path: Path) -> None:
    path = _runbook(tmp_path, [{"name": "slow", "command": {"argv": ["sleep", "30"], "timeout": "20s"}},
                               {"name": "next", "command": ["true"]}])
    ctx = RunbookContext(cwd=tmp_path)
    threading.Timer(0.3, ctx.cancel.set).start()
    outcome = run_runbook(path, "test", ctx)
    assert [s.result for s in outcome.steps] == ["cancelled"]


class _Server:
    def __init__(self, status: int, delay_s: float = 0.0) -> None:
        outer = self
        self.bodies: list[bytes] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                time.sleep(delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server() -> Iterator[list[_Server]]:
    started: list[_Server] = []
    yield started
    for one in started:
        one.httpd.shutdown()
        one.httpd.server_close()


@pytest.mark.parametrize(("status", "delay", "result", "detail"), [
    pytest.param(200, 0.0, "ok", "→ HTTP 200", id="ok"),
    pytest.param(500, 0.0, "failed", "answered HTTP 500, expected one of [200, 201, 202, 204]", id="http_500"),
    pytest.param(200, 2.0, "timed out", "no answer within 0.3s", id="no_answer"),
])
def test_http_steps(tmp_path: Path, server: list[_Server], status: int, delay: float, result: str,
                    detail: str) -> None:
    one = _Server(status, delay)
    server.append(one)
    path = _runbook(tmp_path, [{"name": "call", "http": {"url": f"{one.url}/restart?token=${{HARNESS_TEST_TOKEN}}",
                                                         "json": {"all_missing": True}, "timeout": "300ms"}}])
    outcome = run_runbook(path, "test", RunbookContext({"HARNESS_TEST_TOKEN": "s3cret-value"}, cwd=tmp_path))
    step = outcome.steps[0]
    assert step.result == result and detail in step.detail
    assert "s3cret-value" not in step.detail and "s3cret-value" not in outcome.reason  # the query string is dropped
    assert one.bodies == [b'{"all_missing": true}']


def test_chaostoolkit_steps(tmp_path: Path) -> None:
    exists = {"type": "action", "name": "folder-exists",
              "provider": {"type": "python", "module": "os.path", "func": "exists", "arguments": {"path": "/tmp"}}}
    gone = {"type": "action", "name": "remove-missing",
            "provider": {"type": "python", "module": "os", "func": "rmdir",
                         "arguments": {"path": str(tmp_path / "no-such-folder")}}}
    path = _runbook(tmp_path, [{"name": "ok", "chaostoolkit": exists}, {"name": "fails", "chaostoolkit": gone}])
    outcome = run_runbook(path, "test", RunbookContext(cwd=tmp_path))
    assert [(s.name, s.result) for s in outcome.steps] == [("ok", "ok"), ("fails", "failed")]
    assert "Chaos Toolkit activity" in outcome.steps[1].detail


def test_a_chaostoolkit_step_is_checked_at_validation(tmp_path: Path) -> None:
    bad = {"type": "action", "name": "x", "provider": {"type": "python", "module": "os.path", "func": "no_such"}}
    path = _runbook(tmp_path, [{"name": "ctk", "chaostoolkit": bad}])
    with pytest.raises(SpecError) as caught:
        load_runbook(path, {})
    assert "steps[0].chaostoolkit.activity: not a valid Chaos Toolkit activity" in caught.value.problems[0]
