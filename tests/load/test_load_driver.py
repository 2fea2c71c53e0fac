"""The load driver against a tiny threaded HTTP server that counts what it receives (server-side truth)."""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from harness.errors import LoadError
from harness.load import LoadConfig, LoadRun, RequestSpec, Stage, check_locustfile, start_load
from harness.load.config import Client
from harness.load.record import read_record
from harness.procs import pid_alive

pytestmark = pytest.mark.integration

FLAKY_EVERY = 4  # every 4th request to /flaky answers 500


class CountingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.arrivals: list[tuple[float, str]] = []
        self.bodies: list[Any] = []
        self.flaky_seen = 0
        self.errors = 0
        self.slow_arrived = 0  # counted on arrival, before the answer is delayed

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, path: str, body: bytes) -> int:
        with self.lock:
            self.arrivals.append((time.time(), path))
            if body:
                self.bodies.append(json.loads(body))
            if path != "/flaky":
                return 200
            self.flaky_seen += 1
            if self.flaky_seen % FLAKY_EVERY:
                return 200
            self.errors += 1
            return 500

    def arrived(self, start: float, end: float) -> int:
        with self.lock:
            return sum(1 for t, _ in self.arrivals if start <= t < end)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # Locust closing its keep-alive connections at the end


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body in one segment: two small writes would meet the client's 40 ms delayed ACK.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: CountingServer

    def do_GET(self) -> None:
        self._reply(b"")

    def do_POST(self) -> None:
        self._reply(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _reply(self, body: bytes) -> None:
        if self.path == "/slow":
            with self.server.lock:
                self.server.slow_arrived += 1
            time.sleep(2.0)  # beyond the profile's timeout in the timeout test
        status = self.server.answer(self.path, body)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


Served = TypeVar("Served", bound=ThreadingHTTPServer)


@contextlib.contextmanager
def serving(srv: Served) -> Iterator[Served]:
    """A test server answering on its own thread until the block ends."""
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def server() -> Iterator[CountingServer]:
    with serving(CountingServer()) as srv:
        yield srv


def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def _assert_gone(run: LoadRun) -> None:
    assert not run.is_running()
    assert not pid_alive(run.pid)
    assert _group_members(run.pid) == []  # Locust runs in its own session: its group is its children


def _poll(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_request_list_counts_match_the_server(server: CountingServer, tmp_path: Path) -> None:
    config = LoadConfig(
        host=server.url,
        stages=(Stage(3.0, 4, 100.0), Stage(4.0, 8, 100.0)),
        run_s=7.0,
        requests=(
            RequestSpec("ok", "GET", "/ok", weight=3),
            RequestSpec("flaky", "GET", "/flaky"),
            RequestSpec("order", "POST", "/order", json={"item": 7}),
        ),
        throughput_per_user=10.0,
    )
    run = start_load(config, tmp_path)
    try:
        assert _poll(lambda: run.latest(1.0).requests > 0, timeout_s=3.0)
        assert run.is_running()
        assert run.wait(20.0) == 0
    finally:
        run.stop()
    _assert_gone(run)

    stopped_at = read_record(run.record_path).stopped_at
    assert stopped_at is not None
    total = run.window(math.floor(run.started_at), math.ceil(stopped_at) + 1.0)
    in_flight = len(server.arrivals) - total.requests
    assert 0 <= in_flight <= 8  # at most one request per user at the stop; graceful stop makes it 0
    assert 0 <= server.errors - total.failures <= in_flight
    assert total.failures > 0
    assert set(total.by_name) == {"ok", "flaky", "order"}
    assert total.by_name["flaky"][1] == total.failures
    assert total.by_name["ok"][1] == total.by_name["order"][1] == 0
    assert server.bodies and all(body == {"item": 7} for body in server.bodies)
    assert total.by_name["order"][0] <= len(server.bodies) <= total.by_name["order"][0] + in_flight

    first = run.window(run.started_at + 0.5, run.started_at + 2.9)
    second = run.window(run.started_at + 3.5, run.started_at + 6.9)
    assert first.requested_rps == pytest.approx(40.0)
    assert second.requested_rps == pytest.approx(80.0)
    assert first.achieved_rps == pytest.approx(40.0, rel=0.15)
    assert second.achieved_rps == pytest.approx(80.0, rel=0.10)

    # Per second, requests started (client) and arrived (server) agree within the edge effects.
    begin = math.ceil(run.started_at) + 1.0
    client, arrived = run.window(begin, begin + 4.0).requests, server.arrived(begin, begin + 4.0)
    assert abs(client - arrived) <= 2 + 0.02 * arrived


USER_LOCUSTFILE = """
from locust import HttpUser, constant


def home(user):
    user.client.get("/ok", name="home")


class ShopUser(HttpUser):
    wait_time = constant(1)  # the profile's explicit throughput replaces it
    tasks = [home]
"""


def test_user_locustfile_paced_by_the_plan_and_stopped_early(server: CountingServer, tmp_path: Path) -> None:
    locustfile = tmp_path / "shop_locustfile.py"
    locustfile.write_text(USER_LOCUSTFILE)
    assert check_locustfile(locustfile).users == ("ShopUser",)
    config = LoadConfig(
        host=server.url,
        stages=(Stage(30.0, 3, 10.0),),
        run_s=30.0,
        locustfile=locustfile,
        throughput_per_user=5.0,
    )
    run = start_load(config, tmp_path / "run")
    try:
        assert _poll(
            lambda: time.time() > run.started_at + 3.0 and run.latest(1.0).requests > 0, timeout_s=6.0
        )
        assert run.is_running()
        began_stop = time.monotonic()
        run.stop()
        assert time.monotonic() - began_stop < 3.0
        assert run.wait(1.0) == 0
    finally:
        run.stop()
    run.stop()  # idempotent
    _assert_gone(run)
    assert _processes_mentioning(str(tmp_path)) == []

    stopped_at = read_record(run.record_path).stopped_at
    assert stopped_at is not None and stopped_at < run.started_at + 10.0
    total = run.window(math.floor(run.started_at), math.ceil(stopped_at) + 1.0)
    assert 0 <= len(server.arrivals) - total.requests <= 3
    assert dict(total.by_name) == {"home": (total.requests, 0)}
    paced = run.window(run.started_at + 0.5, stopped_at - 0.2)
    assert paced.requested_rps == pytest.approx(15.0)
    assert paced.achieved_rps == pytest.approx(15.0, rel=0.2)  # constant(1) alone would give 3


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            "import nosuchmodule_for_harness\n", "No module named 'nosuchmodule_for_harness'", id="import"
        ),
        pytest.param("def broken(:\n", "SyntaxError", id="syntax"),
        pytest.param(
            "from locust import HttpUser, LoadTestShape\n\n"
            "class U(HttpUser):\n    tasks = [lambda user: None]\n\n"
            "class RampShape(LoadTestShape):\n    def tick(self):\n        return None\n",
            "defines its own LoadTestShape (RampShape): the harness shapes the load from the load profile",
            id="own_shape",
        ),
        pytest.param("X = 1\n", "defines no User class", id="no_user"),
    ],
)
def test_bad_locustfile_is_a_load_error_naming_the_file(source: str, expected: str, tmp_path: Path) -> None:
    locustfile = tmp_path / "bad_locustfile.py"
    locustfile.write_text(source)
    config = LoadConfig(
        host="http://127.0.0.1:9", stages=(Stage(1.0, 1, 1.0),), run_s=1.0, locustfile=locustfile
    )
    with pytest.raises(LoadError) as err:
        start_load(config, tmp_path / "run")
    assert str(locustfile) in str(err.value)
    assert expected in str(err.value)
    assert not (tmp_path / "run" / "load" / "locust.log").exists()  # refused before starting Locust
    assert _processes_mentioning(str(tmp_path)) == []


def test_locust_exiting_at_start_is_a_load_error_with_the_log_tail(tmp_path: Path) -> None:
    locustfile = tmp_path / "late_failure.py"
    locustfile.write_text(
        "import os\nfrom locust import HttpUser\n\n"
        "class U(HttpUser):\n    tasks = [lambda user: None]\n\n"
        "if os.environ.get('HARNESS_LOAD_PLAN'):\n    raise RuntimeError('boom at start')\n"
    )
    config = LoadConfig(
        host="http://127.0.0.1:9", stages=(Stage(1.0, 1, 1.0),), run_s=1.0, locustfile=locustfile
    )
    with pytest.raises(LoadError) as err:
        start_load(config, tmp_path / "run")
    message = str(err.value)
    assert "Locust exited with code 1 before the load started" in message
    assert "RuntimeError: boom at start" in message
    assert str(tmp_path / "run" / "load" / "locust.log") in message
    assert _processes_mentioning(str(tmp_path)) == []


@pytest.mark.parametrize("client", ["requests", "fasthttp"])
def test_request_unanswered_within_the_timeout_is_a_failure(client: Client, server: CountingServer,
                                                            tmp_path: Path) -> None:
    config = LoadConfig(host=server.url, stages=(Stage(3.0, 2, 10.0),), run_s=3.0,
                        requests=(RequestSpec("slow", "GET", "/slow"),), timeout_s=0.5, client=client)
    run = start_load(config, tmp_path)
    try:
        assert run.wait(15.0) == 0
    finally:
        run.stop()
    _assert_gone(run)
    stopped_at = read_record(run.record_path).stopped_at
    assert stopped_at is not None
    total = run.window(math.floor(run.started_at), math.ceil(stopped_at) + 1.0)
    assert total.requests >= 4  # 2 users, one try each 0.5 s: a 2 s answer would allow only ~3
    assert total.failures == total.requests
    assert server.slow_arrived == total.requests  # a request that timed out was not sent again
