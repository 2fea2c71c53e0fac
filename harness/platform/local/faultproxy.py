"""The fault proxy: an HTTP/1.1-aware TCP proxy in front of each shop replica, with a control API.

`python -m harness.platform.local.faultproxy --listen '0=LPORT:UPORT,1=...' --control-port C`

Each listener forwards to one replica over one upstream connection per client connection. Faults
(see `faults.py`) apply once per request, never per data chunk: a replica sends its head and body
in separate writes, and delaying each would double the latency. An unreachable replica closes the
client connection without a response, as a dead pod behind a Service would. `http-error` faults
spare the health-check path, so the edge's active health checks do not eject the replica and the
injected errors reach clients.

Control API on 127.0.0.1:C: `PUT /faults/<name>` (JSON spec), `DELETE /faults/<name>` (idempotent),
`GET /faults`, `GET /metrics`. `FaultProxyClient` wraps it.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import random
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import requests
from prometheus_client import CollectorRegistry, Counter, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from harness.errors import FaultError
from harness.platform.local import httpwire
from harness.platform.local.proxy_rules import (
    ACTIONS,
    Decision,
    FaultSpec,
    FaultSpecError,
    FaultTable,
    decide,
    parse_fault,
)

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Route:
    index: int
    listen_port: int
    upstream_port: int


class ProxyMetrics:
    def __init__(self, replicas: int) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "faultproxy_requests_total",
            "Requests seen by the fault proxy, by replica and the action taken.",
            ("replica", "action"),
            registry=self.registry,
        )
        self.added_delay = Counter(
            "faultproxy_added_delay_seconds_total",
            "Delay added by latency faults.",
            ("replica",),
            registry=self.registry,
        )
        for index in range(replicas):
            for action in ACTIONS:
                self.requests.labels(replica=str(index), action=action)
            self.added_delay.labels(replica=str(index))


class FaultProxy:
    """The listeners and the control API of one proxy process (or of a test, in its own loop)."""

    def __init__(self, routes: Sequence[Route], control_port: int, rng: random.Random | None = None) -> None:
        self.routes = tuple(routes)
        self.control_port = control_port
        self.rng = rng or random.Random()
        self.table = FaultTable(len(self.routes))
        self.metrics = ProxyMetrics(len(self.routes))
        self._servers: list[asyncio.Server] = []

    async def start(self, host: str = "127.0.0.1") -> None:
        for route in self.routes:
            serve = functools.partial(self._serve_client, route)
            server = await asyncio.start_server(serve, host, route.listen_port, backlog=512)
            self._servers.append(server)
        self._servers.append(await asyncio.start_server(self._serve_control, host, self.control_port))
        log.info("fault proxy: %s; control on %s:%d", self.routes, host, self.control_port)

    async def close(self) -> None:
        for name in list(self.table.as_json()):
            self.table.delete(name)
        for server in self._servers:
            server.close()
        self._servers.clear()

    async def _serve_client(
        self, route: Route, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                keep_going, upstream = await self._proxy_one(route, reader, writer, upstream)
                if not keep_going:
                    break
        except (httpwire.WireError, OSError) as err:
            log.debug("replica %d: connection ended: %s", route.index, err)
        finally:
            writer.close()
            if upstream is not None:
                upstream[1].close()

    async def _proxy_one(
        self,
        route: Route,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None,
    ) -> tuple[bool, tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]:
        head = await httpwire.read_head(reader)
        if head is None:
            return False, upstream
        request = httpwire.parse_request(head)
        body = await httpwire.read_body(reader, head, httpwire.request_framing(head))
        decision = decide(self.table.for_replica(route.index), request.path, self.rng)
        self._count(route.index, decision)
        if decision.blackhole is not None:
            await self._hold(decision.blackhole, reader)
            return False, upstream
        if decision.delay_s > 0:
            await asyncio.sleep(decision.delay_s)
        if decision.status:
            writer.write(_error_response(decision.status, close=head.wants_close()))
            await writer.drain()
            return not head.wants_close(), upstream
        if upstream is None:
            upstream = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", route.upstream_port), _CONNECT_TIMEOUT_S
            )
        return await _forward(request, body, writer, upstream), upstream

    def _count(self, index: int, decision: Decision) -> None:
        self.metrics.requests.labels(replica=str(index), action=decision.action).inc()
        if decision.delay_s > 0:
            self.metrics.added_delay.labels(replica=str(index)).inc(decision.delay_s)

    async def _hold(self, spec: FaultSpec, reader: asyncio.StreamReader) -> None:
        """Answer nothing until the hold ends, the fault is removed or the client goes away."""
        waiters = {
            asyncio.ensure_future(self.table.released(spec.name).wait()),
            asyncio.ensure_future(reader.read(1)),
        }
        _, pending = await asyncio.wait(waiters, timeout=spec.hold_s, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

    async def _serve_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (head := await httpwire.read_head(reader)) is not None:
                request = httpwire.parse_request(head)
                body = await httpwire.read_body(reader, head, httpwire.request_framing(head))
                status, payload, content_type = self._control(request, body)
                writer.write(
                    httpwire.render_response(
                        status,
                        HTTPStatus(status).phrase,
                        payload,
                        content_type=content_type,
                        close=head.wants_close(),
                    )
                )
                await writer.drain()
                if head.wants_close():
                    break
        except (httpwire.WireError, ConnectionError) as err:
            log.debug("control connection ended: %s", err)
        finally:
            writer.close()

    def _control(self, request: httpwire.Request, body: bytes) -> tuple[int, bytes, str]:
        path, method = request.path, request.method
        if path == "/metrics" and method == "GET":
            return 200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST
        if path == "/faults" and method == "GET":
            return _json(200, self.table.as_json())
        if not path.startswith("/faults/") or method not in ("PUT", "DELETE"):
            return _json(
                404, {"error": f"no route {method} {path}; use PUT/DELETE /faults/<name>, GET /faults"}
            )
        name = path[len("/faults/") :]
        if method == "DELETE":
            existed = self.table.delete(name)
            log.info("fault %s removed (existed: %s)", name, existed)
            return _json(200, {"deleted": name, "existed": existed})
        try:
            spec = parse_fault(name, json.loads(body or b"null"), self.table.replicas)
        except (ValueError, FaultSpecError) as err:
            return _json(400, {"error": str(err)})
        self.table.put(spec)
        log.info("fault %s active: %s", name, spec.to_json())
        return _json(200, spec.to_json())


async def _forward(
    request: httpwire.Request,
    body: bytes,
    writer: asyncio.StreamWriter,
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> bool:
    """One exchange with the replica; True when the client connection stays open."""
    up_reader, up_writer = upstream
    up_writer.write(request.head.raw + body)
    await up_writer.drain()
    response = await httpwire.read_head(up_reader)
    while response is not None and 100 <= httpwire.status_of(response) < 200:
        writer.write(response.raw)  # interim answers (100 Continue) precede the real one
        response = await httpwire.read_head(up_reader)
    if response is None:
        return False  # the replica died: the client sees its connection closed, no response
    framing = httpwire.response_framing(response, request.method)
    writer.write(response.raw)
    await httpwire.copy_body(up_reader, writer, response, framing)
    await writer.drain()
    return not (request.head.wants_close() or response.wants_close() or framing is httpwire.Framing.UNTIL_EOF)


def _json(status: int, payload: object) -> tuple[int, bytes, str]:
    return status, json.dumps(payload).encode(), "application/json"


def _error_response(status: int, *, close: bool) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    body = f"fault proxy: injected {status}\n".encode()
    return httpwire.render_response(
        status, reason, body, content_type="text/plain; charset=utf-8", close=close
    )


class FaultProxyClient:
    """The control API from Python; every failure is a FaultError that says what and where."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def put(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return self._call("PUT", f"/faults/{name}", spec)

    def delete(self, name: str) -> None:
        self._call("DELETE", f"/faults/{name}", None)

    def active(self) -> dict[str, Any]:
        return self._call("GET", "/faults", None)

    def _call(self, method: str, path: str, spec: dict[str, Any] | None) -> dict[str, Any]:
        url = self.base_url + path
        try:
            response = requests.request(method, url, json=spec, timeout=self.timeout_s)
        except requests.RequestException as err:
            raise FaultError(f"fault proxy at {self.base_url} unreachable ({method} {path}): {err}") from err
        if response.status_code != 200:
            try:
                detail = response.json().get("error", response.text)
            except ValueError:
                detail = response.text
            raise FaultError(f"fault proxy refused {method} {path} ({response.status_code}): {detail}")
        result: dict[str, Any] = response.json()
        return result


def parse_listen(text: str) -> list[Route]:
    """'0=8001:9001,1=8002:9002' -> routes; indexes must be 0..n-1."""
    routes = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        index, _, ports = part.partition("=")
        listen, _, upstream = ports.partition(":")
        routes.append(Route(int(index), int(listen), int(upstream)))
    if sorted(r.index for r in routes) != list(range(len(routes))) or not routes:
        raise ValueError(f"--listen {text!r}: expected I=LPORT:UPORT for I = 0..n-1")
    return sorted(routes, key=lambda r: r.index)


async def _run(routes: Sequence[Route], control_port: int, seed: int | None) -> None:
    proxy = FaultProxy(routes, control_port, random.Random(seed))
    await proxy.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await proxy.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="HTTP fault proxy in front of the shop replicas.")
    parser.add_argument("--listen", required=True, help="I=LPORT:UPORT,... one listener per replica")
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=None, help="seed of the error-rate and jitter draws")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s faultproxy %(levelname)s %(message)s")
    disable_created_metrics()  # type: ignore[no-untyped-call]
    httpwire.run_event_loop(_run(parse_listen(args.listen), args.control_port, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
