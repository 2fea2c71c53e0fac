"""The built-in user's HTTP clients against a server that drops a request on a reused keep-alive connection.

The server answers the first two requests of each connection and closes the connection on the third,
having read it and answered nothing: a replica killed mid-request. HttpUser and the harness's
FastHttpUser must both count that request as a failure; plain geventhttpclient (a user locustfile's
FastHttpUser) resends it on a new connection and counts a success, which is what the harness's client
turns off.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.load import LoadConfig, LoadRun, RequestSpec, Stage, start_load
from harness.load.config import Client
from harness.load.record import read_record

pytestmark = pytest.mark.integration

DROP_AT = 3  # the request of a connection that the server reads and never answers
USERS, PER_USER_RPS, RUN_S = 2, 10.0, 3.0

PLAIN_FASTHTTP = """
from locust import FastHttpUser


def drop(user):
    user.client.get("/drop", name="drop")


class PlainFastUser(FastHttpUser):
    tasks = [drop]
"""


class DroppingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.connections = self.arrivals = self.dropped = 0
        self.agents: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def arrived(self, nth_on_connection: int, agent: str) -> bool:
        """Count one request; True when it is to be dropped."""
        with self.lock:
            self.arrivals += 1
            self.agents.add(agent.rstrip("0123456789."))  # the client without its version
            self.connections += nth_on_connection == 1
            drop = nth_on_connection == DROP_AT
            self.dropped += drop
            return drop

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients closing their keep-alive connections at the end


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # headers and body in one segment (no delayed-ACK stall)
    disable_nagle_algorithm = True
    server: DroppingServer
    seen = 0  # requests read on this connection (one handler instance per connection)

    def do_GET(self) -> None:
        self.seen += 1
        if self.server.arrived(self.seen, self.headers.get("User-Agent", "")):
            self.close_connection = True  # read, never answered: the connection closes under the request
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[DroppingServer]:
    srv = DroppingServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _run(config: LoadConfig, run_dir: Path) -> tuple[int, int]:
    """Run the load to its end; (requests, failures) as the harness recorded them."""
    run: LoadRun = start_load(config, run_dir)
    try:
        assert run.wait(20.0) == 0
    finally:
        run.stop()
    stopped_at = read_record(run.record_path).stopped_at
    assert stopped_at is not None
    total = run.window(math.floor(run.started_at), math.ceil(stopped_at) + 1.0)
    return total.requests, total.failures


def _config(host: str, **overrides: Any) -> LoadConfig:
    fields: dict[str, Any] = {"host": host, "stages": (Stage(RUN_S, USERS, 100.0),), "run_s": RUN_S,
                              "throughput_per_user": PER_USER_RPS, **overrides}
    return LoadConfig(**fields)


@pytest.mark.parametrize(("client", "agent"), [("requests", "python-requests/"),
                                                  ("fasthttp", "python/gevent-http-client-")])
def test_a_request_dropped_on_a_reused_connection_is_a_failure(
        client: Client, agent: str, server: DroppingServer, tmp_path: Path) -> None:
    config = _config(server.url, requests=(RequestSpec("drop", "GET", "/drop"),), client=client)
    started = time.monotonic()
    requests, failures = _run(config, tmp_path)
    assert time.monotonic() - started < 15.0
    assert server.dropped >= 5  # ~60 requests: every third one dropped
    assert server.connections <= server.dropped + USERS  # keep-alive: a new connection only after a drop
    assert failures == server.dropped  # each drop counted, none hidden
    assert server.arrivals == requests  # each request sent once: nothing was resent
    assert server.agents == {agent}  # which client sent them


def test_plain_geventhttpclient_resends_the_dropped_request(server: DroppingServer, tmp_path: Path) -> None:
    # What the harness's FastHttpUser turns off: without it the same drops pass as successes.
    locustfile = tmp_path / "plain_fast.py"
    locustfile.write_text(PLAIN_FASTHTTP)
    requests, failures = _run(_config(server.url, locustfile=locustfile), tmp_path / "run")
    assert server.dropped >= 5
    assert failures == 0
    assert server.arrivals == requests + server.dropped  # each dropped request arrived twice
