"""The demo shop: one replica process of a small HTTP/1.1 service with Prometheus metrics.

`python -m harness.platform.local.shop --port P --replica I`

Routes: GET /api/catalog (2-8 ms of simulated work), GET /api/items/<id>, POST /api/checkout (JSON
body, 8-20 ms), GET /healthz, GET /metrics. The simulated work is a sleep, so a replica serves
hundreds of requests per second without taking a core from the load generator. Every response has a
Content-Length; connections are kept alive unless the client asks otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.process_collector import ProcessCollector

from harness.platform.local import httpwire

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
ITEM_ROUTE = "/api/items/:id"
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_WORK_S = {"/api/catalog": (0.002, 0.008), ITEM_ROUTE: (0.001, 0.004), "/api/checkout": (0.008, 0.020)}
_METHODS = {
    "/api/catalog": "GET",
    ITEM_ROUTE: "GET",
    "/api/checkout": "POST",
    "/healthz": "GET",
    "/metrics": "GET",
}


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


class ShopMetrics:
    """The replica's own metrics, in a private registry (nothing module-level)."""

    def __init__(self, replica: int) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "http_requests_total",
            "Requests answered, by route, method and status code.",
            ("route", "method", "code"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from a request's head to its response.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        info = Gauge(
            "shop_replica_info", "Always 1; names this replica.", ("replica",), registry=self.registry
        )
        info.labels(replica=str(replica)).set(1)
        for route, method in _METHODS.items():
            if route != "/metrics":  # series exist from the start, so increase() sees the first request
                self.requests.labels(route=route, method=method, code="200")
                self.duration.labels(route=route, method=method)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method, code=str(status)).inc()
        self.duration.labels(route=route, method=method).observe(seconds)


def route_of(path: str) -> str:
    """The bounded route label of a path: unknown paths all become "other"."""
    if path in _METHODS:
        return path
    prefix = "/api/items/"
    if path.startswith(prefix) and "/" not in path[len(prefix) :]:
        return ITEM_ROUTE
    return "other"


def _json(status: int, payload: object) -> Reply:
    return Reply(status, json.dumps(payload, separators=(",", ":")).encode())


class Shop:
    def __init__(self, replica: int, rng: random.Random) -> None:
        self.replica = replica
        self.rng = rng
        self.metrics = ShopMetrics(replica)
        self._orders = 0

    async def answer(self, request: httpwire.Request, route: str, body: bytes) -> Reply:
        if route == "other":
            return _json(404, {"error": "not found"})
        if request.method != _METHODS[route]:
            return _json(405, {"error": f"use {_METHODS[route]}"})
        if route == "/healthz":
            return Reply(200, b"ok", "text/plain; charset=utf-8")
        if route == "/metrics":
            return Reply(200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST)
        low, high = _WORK_S[route]
        await asyncio.sleep(self.rng.uniform(low, high))
        if route == "/api/catalog":
            items = [{"id": i, "name": f"item-{i}", "price": 5 + i % 7} for i in range(1, 11)]
            return _json(200, {"replica": self.replica, "items": items})
        if route == ITEM_ROUTE:
            item_id = request.path.rsplit("/", 1)[1]
            if not item_id.isdigit():
                return _json(404, {"error": "no such item"})
            return _json(200, {"id": int(item_id), "name": f"item-{item_id}", "replica": self.replica})
        return self._checkout(body)

    def _checkout(self, body: bytes) -> Reply:
        try:
            order = json.loads(body or b"{}")
        except ValueError:
            return _json(400, {"error": "body must be JSON"})
        self._orders += 1
        return _json(200, {"order": f"{self.replica}-{self._orders}", "replica": self.replica, "echo": order})

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._serve_one(reader, writer):
                pass
        except (httpwire.WireError, ConnectionError) as err:
            log.debug("connection dropped: %s", err)
        finally:
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await httpwire.read_head(reader)
        if head is None:
            return False
        started = time.perf_counter()
        request = httpwire.parse_request(head)
        body = await httpwire.read_body(reader, head, httpwire.request_framing(head))
        route = route_of(request.path)
        reply = await self.answer(request, route, body)
        close = head.wants_close()
        writer.write(
            httpwire.render_response(
                reply.status,
                _REASONS.get(reply.status, "Unknown"),
                reply.body,
                content_type=reply.content_type,
                close=close,
                extra=(("X-Replica", str(self.replica)),),
            )
        )
        await writer.drain()
        if route != "/metrics":
            self.metrics.observe(route, request.method, reply.status, time.perf_counter() - started)
        return not close


async def serve(port: int, replica: int, host: str = "127.0.0.1") -> None:
    """Serve until SIGTERM or SIGINT."""
    shop = Shop(replica, random.Random())
    server = await asyncio.start_server(shop.serve_connection, host, port, backlog=512)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    log.info("shop replica %d listening on %s:%d", replica, host, port)
    await stopping.wait()
    server.close()
    log.info("shop replica %d stopping", replica)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One replica of the demo shop.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--replica", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s shop[%(process)d] %(levelname)s %(message)s")
    disable_created_metrics()  # type: ignore[no-untyped-call]
    httpwire.run_event_loop(serve(args.port, args.replica, args.host))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
