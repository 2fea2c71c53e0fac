"""The supervisor's restart API on a real socket, against a Supervisor whose replicas are all down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.platform.local.supervisor import Supervisor
from harness.platform.local.supervisor_api import serve_api
from harness.procs import free_port


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Supervisor, str]]:
    supervisor = Supervisor([free_port(), free_port(), free_port()], tmp_path / "state.json", tmp_path,
                            restart_delay_s=1.0, auto_restart=False)
    port = free_port()
    server = serve_api(supervisor, port)
    yield supervisor, f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


def test_replicas_and_restarts(api: tuple[Supervisor, str]) -> None:
    supervisor, url = api
    listed = requests.get(f"{url}/replicas", timeout=5).json()["replicas"]
    assert [(r["index"], r["alive"], r["ready"]) for r in listed] == [(0, False, False), (1, False, False),
                                                                        (2, False, False)]
    supervisor.slots[0].restart_at = supervisor.slots[1].restart_at = float("inf")  # dead, waiting
    one = requests.post(f"{url}/restart", json={"replica": 1}, timeout=5)
    assert (one.status_code, one.json()) == (200, {"restarting": [1]})
    assert supervisor.slots[1].restart_at == 0.0 and supervisor.slots[0].restart_at == float("inf")
    every = requests.post(f"{url}/restart", json={"all_missing": True}, timeout=5)
    assert every.json() == {"restarting": [0, 1, 2]}


@pytest.mark.parametrize("body", [{"replica": 3}, {"replica": "1"}, {"all_missing": False}, [1], {"replica": True}])
def test_anything_else_is_a_400(api: tuple[Supervisor, str], body: object) -> None:
    _, url = api
    answer = requests.post(f"{url}/restart", json=body, timeout=5)
    assert answer.status_code == 400
    assert "expected" in answer.json()["error"]


def test_unknown_paths_are_404(api: tuple[Supervisor, str]) -> None:
    _, url = api
    assert requests.get(f"{url}/restart", timeout=5).status_code == 404
    assert requests.post(f"{url}/replicas", json={}, timeout=5).status_code == 404


def test_without_auto_restart_a_dead_replica_waits(tmp_path: Path) -> None:
    supervisor = Supervisor([free_port()], tmp_path / "s.json", tmp_path, restart_delay_s=0.0, auto_restart=False)
    slot = supervisor.slots[0]

    class Exited:
        returncode = -9

        def poll(self) -> int:
            return -9

    slot.proc = Exited()  # type: ignore[assignment]
    assert supervisor._reap(slot, now=100.0)
    assert slot.restart_at == float("inf")
    assert not supervisor._restart_due(slot, now=10_000.0)
