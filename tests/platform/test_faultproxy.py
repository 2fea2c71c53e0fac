"""The fault proxy against a real upstream on loopback: framing, keep-alive and once-per-request faults."""

from __future__ import annotations

import asyncio
import http.client
import random
import socket
import statistics
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import requests

from harness.errors import FaultError
from harness.platform.local import httpwire
from harness.platform.local.faultproxy import FaultProxy, FaultProxyClient, Route, parse_listen
from harness.platform.local.proxy_rules import FaultSpec, FaultSpecError, decide, parse_fault
from harness.procs import free_port

T = TypeVar("T")
CHUNK_GAP_S = 0.1


@dataclass
class FakeUpstream:
    """A replica stand-in that records what reaches it; /two-chunks sends head and body apart."""

    requests: list[tuple[int, str, str, bytes]] = field(default_factory=list)
    connections: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn_id = self.connections
        while (head := await httpwire.read_head(reader)) is not None:
            request = httpwire.parse_request(head)
            body = await httpwire.read_body(reader, head, httpwire.request_framing(head))
            self.requests.append((conn_id, request.method, request.path, body))
            if request.path == "/no-length":
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof body")
                await writer.drain()
                break
            if request.path == "/two-chunks":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
                await writer.drain()
                await asyncio.sleep(CHUNK_GAP_S)
                writer.write(b"hello")
            else:
                payload = body or request.path.encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload))
            await writer.drain()
        writer.close()


@dataclass
class Rig:
    loop: asyncio.AbstractEventLoop
    proxy: FaultProxy
    upstream: FakeUpstream
    live_port: int  # listener of replica 0, in front of the fake upstream
    dead_port: int  # listener of replica 1, in front of a port nobody listens on
    control_url: str

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def counter(self, replica: int, action: str) -> float:
        value = self.proxy.metrics.registry.get_sample_value(
            "faultproxy_requests_total", {"replica": str(replica), "action": action}
        )
        return value or 0.0


@pytest.fixture
def rig() -> Iterator[Rig]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    upstream = FakeUpstream()
    upstream_port, live, dead, control = free_port(), free_port(), free_port(), free_port()
    routes = [Route(0, live, upstream_port), Route(1, dead, free_port())]
    proxy = FaultProxy(routes, control, random.Random(7))
    rig = Rig(loop, proxy, upstream, live, dead, f"http://127.0.0.1:{control}")
    server = rig.run(asyncio.start_server(upstream.serve, "127.0.0.1", upstream_port))
    rig.run(proxy.start())
    try:
        yield rig
    finally:
        rig.run(proxy.close())
        rig.run(_close(server))  # asyncio servers are not thread-safe: close it in its own loop
        rig.run(_cancel_the_rest())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


async def _close(server: asyncio.Server) -> None:
    server.close()


async def _cancel_the_rest() -> None:
    """Connection handlers still parked in the loop, so closing it destroys no pending task."""
    for _ in range(5):  # closing one side of a connection can wake its peer's handler: repeat
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if not others:
            return
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await asyncio.sleep(0.01)


def _get(port: int, path: str, conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes, float]:
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    return response.status, body, time.perf_counter() - started


def _raw_exchange(port: int, request: bytes, timeout: float = 5.0) -> tuple[bytes, float]:
    """Send raw bytes, read until the proxy closes the connection; returns what came back and when."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        started = time.perf_counter()
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received, time.perf_counter() - started


def test_keep_alive_uses_one_upstream_connection_and_frames_bodies(rig: Rig) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", rig.live_port, timeout=5)
    conn.request("POST", "/echo", body=b'{"sku": 1}', headers={"Content-Type": "application/json"})
    first = conn.getresponse()
    assert (first.status, first.read()) == (200, b'{"sku": 1}')
    status, body, _ = _get(rig.live_port, "/two-chunks", conn)
    assert (status, body) == (200, b"hello")
    assert [(c, m, p) for c, m, p, _ in rig.upstream.requests] == [
        (1, "POST", "/echo"),
        (1, "GET", "/two-chunks"),
    ]
    assert rig.upstream.connections == 1


def test_chunked_request_body_is_forwarded_intact(rig: Rig) -> None:
    chunked = b"4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n"
    request = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked
    )
    received, _ = _raw_exchange(rig.live_port, request)
    assert rig.upstream.requests[-1][3] == chunked
    assert received.endswith(chunked)


def test_response_without_length_is_read_to_eof_and_closed(rig: Rig) -> None:
    received, _ = _raw_exchange(rig.live_port, b"GET /no-length HTTP/1.1\r\nHost: x\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 OK")
    assert received.endswith(b"\r\n\r\nuntil-eof body")


def test_latency_is_added_once_per_request_not_per_chunk(rig: Rig) -> None:
    baseline = statistics.median(_get(rig.live_port, "/two-chunks")[2] for _ in range(3))
    assert baseline >= CHUNK_GAP_S  # the upstream really answers in two writes
    FaultProxyClient(rig.control_url).put("slow", {"kind": "latency", "delay_s": 0.2, "targets": [0]})
    delayed = statistics.median(_get(rig.live_port, "/two-chunks")[2] for _ in range(3))
    assert 0.17 <= delayed - baseline <= 0.3  # 0.4 would mean once per chunk
    added = rig.proxy.metrics.registry.get_sample_value(
        "faultproxy_added_delay_seconds_total", {"replica": "0"}
    )
    assert added == pytest.approx(0.6)
    assert rig.counter(0, "latency") == 3


def test_http_error_is_answered_by_the_proxy_and_spares_health_checks(rig: Rig) -> None:
    FaultProxyClient(rig.control_url).put(
        "errors", {"kind": "http-error", "rate": 1.0, "status": 503, "targets": [0]}
    )
    response = requests.get(f"http://127.0.0.1:{rig.live_port}/api/catalog", timeout=5)
    assert response.status_code == 503
    assert response.headers["Content-Length"] == str(len(response.content))
    assert b"injected 503" in response.content
    health = requests.get(f"http://127.0.0.1:{rig.live_port}/healthz", timeout=5)
    assert health.status_code == 200
    assert [p for _, _, p, _ in rig.upstream.requests] == ["/healthz"]
    assert (rig.counter(0, "error"), rig.counter(0, "none")) == (1, 1)


def test_http_error_rate_is_a_per_request_probability(rig: Rig) -> None:
    FaultProxyClient(rig.control_url).put("some", {"kind": "http-error", "rate": 0.3, "targets": [0]})
    session = requests.Session()
    codes = [session.get(f"http://127.0.0.1:{rig.live_port}/x", timeout=5).status_code for _ in range(200)]
    assert 35 <= codes.count(503) <= 85
    assert codes.count(503) + codes.count(200) == 200


def test_fault_touches_only_its_targets(rig: Rig) -> None:
    FaultProxyClient(rig.control_url).put("other", {"kind": "http-error", "rate": 1.0, "targets": [1]})
    assert _get(rig.live_port, "/fine")[0] == 200


def test_blackhole_never_answers_and_closes_after_hold(rig: Rig) -> None:
    FaultProxyClient(rig.control_url).put("hole", {"kind": "blackhole", "hold_s": 0.4, "targets": [0]})
    received, elapsed = _raw_exchange(rig.live_port, b"GET /api/catalog HTTP/1.1\r\nHost: x\r\n\r\n")
    assert received == b""
    assert 0.35 <= elapsed <= 1.5
    assert rig.upstream.requests == []
    assert rig.counter(0, "blackhole") == 1


def test_blackhole_is_released_when_the_fault_is_removed(rig: Rig) -> None:
    client = FaultProxyClient(rig.control_url)
    client.put("hole", {"kind": "blackhole", "targets": [0]})
    remover = threading.Timer(0.3, client.delete, args=("hole",))
    remover.start()
    received, elapsed = _raw_exchange(rig.live_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    remover.join()
    assert received == b""
    assert 0.25 <= elapsed <= 2.0  # far below the 30 s default hold


def test_unreachable_replica_closes_the_connection_without_a_response(rig: Rig) -> None:
    received, elapsed = _raw_exchange(rig.dead_port, b"GET /api/catalog HTTP/1.1\r\nHost: x\r\n\r\n")
    assert received == b""
    assert elapsed < 2.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"not json", "Expecting value", id="not_json"),
        pytest.param(b'{"kind": "slow", "targets": [0]}', "kind: expected one of latency", id="unknown_kind"),
        pytest.param(
            b'{"kind": "latency", "delay_s": 0.1}', "targets: expected a non-empty list", id="no_targets"
        ),
        pytest.param(
            b'{"kind": "latency", "delay_s": 0.1, "targets": [2]}', "entries that are not", id="bad_target"
        ),
        pytest.param(
            b'{"kind": "http-error", "rate": 2, "targets": [0]}', "rate: expected a number", id="rate"
        ),
        pytest.param(b'{"kind": "latency", "targets": [0]}', "delay_s: required", id="no_delay"),
        pytest.param(
            b'{"kind": "blackhole", "targets": [0], "rate": 1}', "rate: unknown field", id="extra_field"
        ),
    ],
)
def test_control_api_rejects_invalid_specs_with_a_message(rig: Rig, body: bytes, message: str) -> None:
    response = requests.put(f"{rig.control_url}/faults/f1", data=body, timeout=5)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert requests.get(f"{rig.control_url}/faults", timeout=5).json() == {}


def test_control_api_lists_and_deletes_idempotently(rig: Rig) -> None:
    client = FaultProxyClient(rig.control_url)
    client.put("lat", {"kind": "latency", "delay_s": 0.05, "jitter_s": 0.01, "targets": [1, 0]})
    assert client.active() == {
        "lat": {"name": "lat", "kind": "latency", "targets": [0, 1], "delay_s": 0.05, "jitter_s": 0.01}
    }
    client.delete("lat")
    client.delete("lat")
    assert client.active() == {}
    metrics = requests.get(f"{rig.control_url}/metrics", timeout=5).text
    assert 'faultproxy_requests_total{action="blackhole",replica="1"} 0.0' in metrics


def test_client_raises_fault_error_with_the_proxy_message(rig: Rig) -> None:
    with pytest.raises(
        FaultError, match=r"refused PUT /faults/x \(400\): status: expected an HTTP error status"
    ):
        FaultProxyClient(rig.control_url).put("x", {"kind": "http-error", "status": 200, "targets": [0]})
    with pytest.raises(FaultError, match="unreachable"):
        FaultProxyClient(f"http://127.0.0.1:{free_port()}", timeout_s=1).active()


def test_decide_jitter_never_negative_and_latencies_add_up() -> None:
    rng = random.Random(1)
    jittery = FaultSpec("a", "latency", (0,), delay_s=0.01, jitter_s=0.05)
    assert min(decide([jittery], "/x", rng).delay_s for _ in range(200)) == 0.0
    fixed = [FaultSpec("b", "latency", (0,), delay_s=0.1), FaultSpec("c", "latency", (0,), delay_s=0.2)]
    assert decide(fixed, "/x", rng).delay_s == pytest.approx(0.3)
    hole = FaultSpec("d", "blackhole", (0,))
    assert decide([*fixed, hole], "/x", rng).action == "blackhole"


def test_parse_fault_and_listen_reject_bad_input() -> None:
    with pytest.raises(FaultSpecError, match="fault name"):
        parse_fault("bad name!", {"kind": "blackhole", "targets": [0]}, 1)
    assert parse_fault("ok", {"kind": "blackhole", "targets": [0]}, 1).hold_s == 30.0
    assert [r.index for r in parse_listen("1=8002:9002,0=8001:9001")] == [0, 1]
    with pytest.raises(ValueError, match="I=LPORT:UPORT"):
        parse_listen("0=8001:9001,2=8003:9003")
