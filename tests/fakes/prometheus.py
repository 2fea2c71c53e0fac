"""A fake Prometheus HTTP API on a free loopback port, answering from a table of raw samples.

`/api/v1/query` and `/api/v1/query_range` evaluate the query over the series given (see
tests.fakes.promql for the grammar). For traps a table of samples cannot express, `canned` answers
keyed by the exact query string win over the evaluation, and `warnings` are added to every answer.
Every request is recorded in `received`. A query the fake cannot evaluate, or one sent without a
pinned `time`, is answered with HTTP 400 `bad_data` and listed in `unsupported`, so a test notices.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.promql import (
    Evaluator,
    FakeSeries,
    Matrix,
    Scalar,
    Unsupported,
    Value,
    Vector,
    parse_series_name,
)

__all__ = ["FakePrometheus", "FakeSeries", "Received", "Scalar", "Vector", "series"]


def series(spec: str, points: Iterable[tuple[float, float]]) -> FakeSeries:
    """A series of the table: `name{a="b"}` and its (unix seconds, value) samples."""
    return FakeSeries(parse_series_name(spec), tuple((float(t), float(v)) for t, v in points))


@dataclass(frozen=True)
class Received:
    """One API request as the fake saw it (times as sent, parsed to floats)."""

    path: str
    query: str
    time: float | None = None
    start: float | None = None
    end: float | None = None
    step: float | None = None


class FakePrometheus:
    """Serves the Prometheus query API from `series`; start it with `with FakePrometheus(...) as prom`."""

    def __init__(self, table: Iterable[FakeSeries] = ()) -> None:
        self.series: list[FakeSeries] = list(table)
        self.canned: dict[str, Value] = {}
        self.warnings: list[tuple[str, str]] = []  # (warning, on queries containing this text)
        self.received: list[Received] = []
        self.unsupported: list[str] = []
        self.targets: list[dict[str, Any]] | None = None  # /api/v1/targets activeTargets; None: no such API
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Prometheus is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def warn(self, text: str, containing: str = "") -> None:
        """Warn (as Thanos or Mimir do on a partial response) on the answers of matching queries."""
        self.warnings.append((text, containing))

    def queries(self, containing: str = "") -> list[Received]:
        """The instant and range queries received, optionally only those containing a text."""
        return [r for r in self.received if r.path.startswith("/api/v1/query") and containing in r.query]

    def start(self) -> None:
        # Port 0: the kernel picks a free port, no race with other listeners.
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakePrometheus:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- answering ---------------------------------------------------------------------------------

    def answer(self, path: str, params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one request."""
        if path == "/api/v1/status/buildinfo":
            return 200, {"status": "success", "data": {"version": "2.42.0-fake"}}
        if path == "/api/v1/label/__name__/values":
            names = {s.labels.get("__name__", "") for s in self.series} - {""}
            return 200, {"status": "success", "data": sorted(names)}
        if path == "/api/v1/targets" and self.targets is not None:
            return 200, {"status": "success", "data": {"activeTargets": self.targets, "droppedTargets": []}}
        if path not in ("/api/v1/query", "/api/v1/query_range"):
            return 404, {"status": "error", "errorType": "not_found", "error": f"no fake for {path}"}
        query = params.get("query", "")
        received = Received(path, query, *(_float(params.get(k)) for k in ("time", "start", "end", "step")))
        self.received.append(received)
        try:
            data = self._instant(received) if path == "/api/v1/query" else self._range(received)
        except (Unsupported, ValueError, KeyError) as err:
            self.unsupported.append(query)
            return 400, {"status": "error", "errorType": "bad_data", "error": f"fake Prometheus: {err}"}
        body: dict[str, Any] = {"status": "success", "data": data}
        warnings = [text for text, containing in self.warnings if containing in query]
        if warnings:
            body["warnings"] = warnings
        return 200, body

    def _value(self, query: str, at: float) -> Value:
        if query in self.canned:
            return self.canned[query]
        return Evaluator(self.series).evaluate(query, at)

    def _instant(self, received: Received) -> dict[str, Any]:
        if received.time is None:
            raise Unsupported("the harness always pins time=, this query has none")
        value = self._value(received.query, received.time)
        return _result(value, received.time)

    def _range(self, received: Received) -> dict[str, Any]:
        if received.start is None or received.end is None or not received.step:
            raise Unsupported("query_range needs start, end and step")
        rows: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        steps = math.floor((received.end - received.start) / received.step + 1e-9) + 1
        for i in range(steps):
            at = received.start + i * received.step
            value = self._value(received.query, at)
            if isinstance(value, Matrix):
                raise Unsupported("a range query of a range vector")
            samples = value.samples if isinstance(value, Vector) else (({}, value.value),)
            for labels, v in samples:
                rows.setdefault(tuple(sorted(labels.items())), []).append((at, v))
        result = [{"metric": dict(key), "values": [[t, _text(v)] for t, v in points]}
                  for key, points in rows.items()]
        return {"resultType": "matrix", "result": result}


def _result(value: Value, at: float) -> dict[str, Any]:
    if isinstance(value, Scalar):
        return {"resultType": "scalar", "result": [at, _text(value.value)]}
    if isinstance(value, Vector):
        result = [{"metric": dict(labels), "value": [at, _text(v)]} for labels, v in value.samples]
        return {"resultType": "vector", "result": result}
    return {
        "resultType": "matrix",
        "result": [
            {"metric": dict(labels), "values": [[t / 1000, _text(v)] for t, v in points]}
            for labels, points in value.series
        ],
    }


def _text(value: float) -> str:
    """Prometheus's spelling of a sample value: `NaN`, `+Inf`, `-Inf`, `6000`, `0.25`."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.0f}" if value.is_integer() else repr(value)


def _float(text: str | None) -> float | None:
    return None if text is None else float(text)


def _handler(fake: FakePrometheus) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve(urlsplit(self.path).query)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            self._serve(self.rfile.read(length).decode())

        def _serve(self, raw: str) -> None:
            params = {k: v[-1] for k, v in parse_qs(raw).items()}
            try:
                status, body = fake.answer(urlsplit(self.path).path, params)
            except Exception as err:  # a bug in the fake: answer, so the test fails on it, not on a hang
                fake.unsupported.append(f"{params.get('query', '')} (fake crashed: {err!r})")
                status, body = 500, {"status": "error", "errorType": "internal", "error": repr(err)}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the fake records what it received

    return Handler

