"""PromClient and the evidence queries against a hand-written fake Prometheus (canned API answers)."""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from harness.errors import EvidenceError
from harness.evidence.queries import count_exact, count_increase, histogram_bounds, scrape_health
from harness.procs import free_port
from harness.prom.client import PromClient


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class Reply:
    status: int
    body: Any  # JSON-serialised unless it is bytes
    content_type: str = "application/json"


@dataclass
class FakeProm:
    """A fake Prometheus.

    Answers are looked up by (path, query param) first, then by path; a list is served in order.
    """

    url: str = ""
    answers: dict[str | tuple[str, str], list[Reply]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def on(self, path: str, *replies: Reply, query: str | None = None) -> None:
        self.answers[(path, query) if query is not None else path] = list(replies)

    def reply_for(self, request: Request) -> Reply:
        key: str | tuple[str, str] = (request.path, request.params.get("query", ""))
        replies = self.answers.get(key) or self.answers.get(request.path)
        if not replies:
            return Reply(404, b"404 page not found", "text/plain")
        # The last reply repeats, so a single reply serves every call.
        return replies.pop(0) if len(replies) > 1 else replies[0]


def success(data: Any, warnings: list[str] | None = None) -> Reply:
    body: dict[str, Any] = {"status": "success", "data": data}
    if warnings:
        body["warnings"] = warnings
    return Reply(200, body)


def error(status: int, error_type: str, text: str) -> Reply:
    return Reply(status, {"status": "error", "errorType": error_type, "error": text})


def vector(*items: tuple[dict[str, str], str], at: float = 1000.0) -> dict[str, Any]:
    return {"resultType": "vector", "result": [{"metric": m, "value": [at, v]} for m, v in items]}


def matrix(*items: tuple[dict[str, str], Sequence[tuple[float, str]]]) -> dict[str, Any]:
    result = [{"metric": m, "values": [[t, v] for t, v in points]} for m, points in items]
    return {"resultType": "matrix", "result": result}


def _handler(fake: FakeProm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve(urlsplit(self.path).query)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            self._serve(self.rfile.read(length).decode())

        def _serve(self, raw_params: str) -> None:
            params = {k: v[-1] for k, v in parse_qs(raw_params).items()}
            request = Request(self.command, urlsplit(self.path).path, params, dict(self.headers.items()))
            fake.requests.append(request)
            reply = fake.reply_for(request)
            body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def fake_prometheus() -> Iterator[FakeProm]:
    fake = FakeProm()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def prom() -> Iterator[FakeProm]:
    with fake_prometheus() as fake:
        yield fake


def client_for(fake: FakeProm, **kwargs: Any) -> PromClient:
    return PromClient(fake.url, backoff_s=0.01, **kwargs)


# -- the envelope ---------------------------------------------------------------------------------


def test_instant_query_is_pinned_and_parsed(prom: FakeProm) -> None:
    prom.on("/api/v1/query", success(vector(({"code": "500"}, "12"), ({"code": "502"}, "3.5"))))
    answer = client_for(prom).query("sum by (code) (x)", at=1795912780.25)
    assert prom.requests[0].params == {"query": "sum by (code) (x)", "time": "1795912780.250"}
    assert answer.result_type == "vector"
    assert answer.at == 1795912780.25
    assert [(s.labels, s.value) for s in answer.vector] == [({"code": "500"}, 12.0), ({"code": "502"}, 3.5)]
    assert answer.warnings == ()
    assert answer.elapsed_s > 0


def test_warnings_are_surfaced(prom: FakeProm) -> None:
    warned = success(vector(({}, "1")), warnings=["PromQL warning: encountered a mix of histograms"])
    prom.on("/api/v1/query", warned)
    answer = client_for(prom).query("x", at=1000)
    assert answer.warnings == ("PromQL warning: encountered a mix of histograms",)


def test_special_float_strings_are_parsed(prom: FakeProm) -> None:
    items = (({"i": "a"}, "NaN"), ({"i": "b"}, "+Inf"), ({"i": "c"}, "-Inf"), ({"i": "d"}, "1e3"))
    prom.on("/api/v1/query", success(vector(*items)))
    values = [s.value for s in client_for(prom).query("x", at=1000).vector]
    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf, 1000.0]


def test_matrix_scalar_and_range_queries(prom: FakeProm) -> None:
    prom.on("/api/v1/query", success(matrix(({"pod": "a"}, [(990, "1"), (1000, "NaN")]))), query="x[20s]")
    prom.on("/api/v1/query", success({"resultType": "scalar", "result": [1000, "+Inf"]}), query="scalar(x)")
    prom.on("/api/v1/query_range", success(matrix(({}, [(0, "0"), (15, "2")]))))
    client = client_for(prom)
    series = client.query("x[20s]", at=1000).matrix[0]
    assert series.labels == {"pod": "a"}
    assert series.points[0] == (990.0, 1.0) and math.isnan(series.points[1][1])
    assert client.query("scalar(x)", at=1000).scalar == math.inf
    ranged = client.query_range("rate(x[1m])", 0, 15, 15)
    assert ranged.matrix[0].points == ((0.0, 0.0), (15.0, 2.0))
    assert (ranged.start, ranged.end, ranged.step_s, ranged.at) == (0, 15, 15, None)
    assert prom.requests[-1].params == {
        "query": "rate(x[1m])",
        "start": "0.000",
        "end": "15.000",
        "step": "15",
    }


def test_long_queries_go_in_a_post_form(prom: FakeProm) -> None:
    prom.on("/api/v1/query", success(vector()))
    long_query = "sum(" + " or ".join(f'x{{route="/r{i}"}}' for i in range(300)) + ")"
    client = client_for(prom)
    client.query("x", at=1)
    client.query(long_query, at=1)
    assert [r.method for r in prom.requests] == ["GET", "POST"]
    assert prom.requests[1].params["query"] == long_query


# -- failures -------------------------------------------------------------------------------------


def test_bad_query_names_url_query_and_prometheus_error_and_is_not_retried(prom: FakeProm) -> None:
    prom.on("/api/v1/query", error(400, "bad_data", '1:5: parse error: unexpected identifier "bar"'))
    with pytest.raises(EvidenceError) as caught:
        client_for(prom).query("foo bar", at=1000)
    assert str(caught.value) == (
        f"Prometheus at {prom.url} failed on query 'foo bar': "
        'HTTP 400, bad_data: 1:5: parse error: unexpected identifier "bar"'
    )
    assert len(prom.requests) == 1


def test_unreachable_prometheus_says_how_to_fix() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EvidenceError) as caught:
        PromClient(url, retries=1, backoff_s=0.01).query("up", at=1000)
    message = str(caught.value)
    assert message.startswith(f"Prometheus at {url} failed on query 'up': cannot connect after 2 attempts (")
    assert message.endswith(f"is Prometheus running at {url}?")
    assert "refused" in message.lower()


def test_tokens_never_appear_in_messages_logs_or_repr(
    prom: FakeProm, caplog: pytest.LogCaptureFixture
) -> None:
    token = "Bearer s3cr3t-t0ken"
    # A proxy that echoes the header back must not leak it either.
    prom.on("/api/v1/query", error(401, "unauthorized", f"invalid token {token}"))
    url = prom.url.replace("http://", "http://admin:pa55word@")
    client = PromClient(url, headers={"Authorization": token, "X-Scope-OrgID": "tenant-1"})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(EvidenceError) as caught:
        client.query("up", at=1000)
    message = str(caught.value)
    assert prom.requests[0].headers["Authorization"] == token
    assert "s3cr3t" not in message and "pa55word" not in message
    assert message.endswith(
        "HTTP 401, unauthorized: invalid token ***; check the prometheus.headers of the experiment"
    )
    assert prom.url in message
    assert "s3cr3t" not in caplog.text and "pa55word" not in caplog.text
    assert repr(client) == f"PromClient(url={prom.url!r}, headers=['Authorization', 'X-Scope-OrgID'])"


def test_credentials_in_the_url_become_basic_auth_and_stay_hidden(prom: FakeProm) -> None:
    prom.on("/api/v1/query", error(422, "execution", "many-to-many matching not allowed"))
    client = PromClient(prom.url.replace("//", "//ops:pa55word@"))
    with pytest.raises(EvidenceError) as caught:
        client.query("a / b", at=1000)
    assert prom.requests[0].headers["Authorization"] == "Basic b3BzOnBhNTV3b3Jk"
    assert str(caught.value) == (
        f"Prometheus at {prom.url} failed on query 'a / b': "
        "HTTP 422, execution: many-to-many matching not allowed"
    )
    assert client.url == prom.url


def test_forbidden_without_json_still_hints_at_headers(prom: FakeProm) -> None:
    prom.on("/api/v1/query", Reply(403, b"<html>forbidden</html>", "text/html"))
    with pytest.raises(EvidenceError, match=r"HTTP 403 .*\(text/html\); check the prometheus.headers"):
        client_for(prom).query("up", at=1000)


def test_503_is_retried(prom: FakeProm) -> None:
    busy = error(503, "timeout", "query timed out in expression evaluation")
    prom.on("/api/v1/query", busy, busy, success(vector(({}, "7"))))
    answer = client_for(prom).query("up", at=1000)
    assert answer.vector[0].value == 7.0
    assert len(prom.requests) == 3


def test_503_gives_up_after_the_retries(prom: FakeProm) -> None:
    prom.on("/api/v1/query", error(503, "unavailable", "too many queries"))
    with pytest.raises(EvidenceError, match="HTTP 503, unavailable: too many queries"):
        client_for(prom, retries=2).query("up", at=1000)
    assert len(prom.requests) == 3


def test_not_the_api_base(prom: FakeProm) -> None:
    prom.on("/api/v1/query", Reply(200, b"<html>Grafana</html>", "text/html"))
    with pytest.raises(EvidenceError, match=r"is http://127\.0\.0\.1:\d+ the Prometheus API base"):
        client_for(prom).query("up", at=1000)


def test_unknown_result_type_is_refused(prom: FakeProm) -> None:
    prom.on("/api/v1/query", success({"resultType": "histogram", "result": []}))
    with pytest.raises(EvidenceError) as caught:
        client_for(prom).query("up", at=1000)
    assert str(caught.value) == (
        f"Prometheus at {prom.url} failed on query 'up': "
        "the histogram result cannot be read: unknown resultType 'histogram'"
    )


# -- other endpoints ------------------------------------------------------------------------------


def test_targets_alerts_and_label_values(prom: FakeProm) -> None:
    prom.on("/api/v1/targets", success({"activeTargets": [{"labels": {"job": "edge"}, "health": "up"}]}))
    alerts = [{"labels": {"alertname": "Burn"}, "state": "firing"}, {"labels": {}, "state": "pending"}]
    prom.on("/api/v1/alerts", success({"alerts": alerts}))
    prom.on("/api/v1/label/le/values", success(["0.5", "1", "+Inf"]))
    client = client_for(prom)
    assert client.targets() == [{"labels": {"job": "edge"}, "health": "up"}]
    assert client.firing_alerts() == [alerts[0]]
    assert client.label_values("le", "x_bucket", 0, 60) == ["0.5", "1", "+Inf"]
    assert prom.requests[-1].params == {"match[]": "x_bucket", "start": "0.000", "end": "60.000"}


def test_check_reachable_falls_back_to_a_query(prom: FakeProm) -> None:
    prom.on("/api/v1/query", success({"resultType": "scalar", "result": [1, "1"]}))
    client_for(prom).check_reachable()
    assert [r.path for r in prom.requests] == ["/api/v1/status/buildinfo", "/api/v1/query"]


def test_check_reachable_reports_a_server_error(prom: FakeProm) -> None:
    prom.on("/api/v1/status/buildinfo", error(500, "internal", "tsdb closed"))
    with pytest.raises(EvidenceError, match="/api/v1/status/buildinfo: HTTP 500, internal: tsdb closed"):
        client_for(prom).check_reachable()


# -- evidence queries through the client ----------------------------------------------------------


def test_count_exact_queries_the_raw_samples_at_the_end(prom: FakeProm) -> None:
    points = [(995, "100"), (1005, "200"), (1015, "300"), (1025, "5"), (1035, "50"), (1065, "900")]
    prom.on("/api/v1/query", success(matrix(({"pod": "a"}, points))))
    count = count_exact(client_for(prom), 'x_total{job="edge"}', 1000, 1060, lookback_s=15)
    assert prom.requests[0].params == {"query": 'x_total{job="edge"}[75s]', "time": "1060.000"}
    assert (count.value, count.resets, count.series, count.problems) == (250.0, 1, 1, ())


def test_memo_asks_a_pinned_query_once_but_never_keeps_raw_reads(prom: FakeProm) -> None:
    prom.on("/api/v1/query", success(vector(({}, "1"))))
    client = client_for(prom)
    computed: list[int] = []

    def compute() -> int:
        computed.append(1)
        return len(computed)

    with client.memo():
        client.query("up", at=1000)
        client.query("up", at=1000)
        client.read("x_total[60s]", at=1000)
        client.read("x_total[60s]", at=1000)
        kept = [client.remembered("count", compute) for _ in range(2)]
    client.query("up", at=1000)
    assert [r.params["query"] for r in prom.requests] == ["up", "x_total[60s]", "x_total[60s]", "up"]
    assert (kept, client.remembered("count", lambda: 7)) == ([1, 1], 7)  # outside memo(): computed again


def test_count_exact_is_counted_once_per_window_within_the_memo(prom: FakeProm) -> None:
    prom.on("/api/v1/query", success(matrix(({"pod": "a"}, [(995, "1"), (1005, "4")]))))
    client = client_for(prom)
    with client.memo():
        counts = [count_exact(client, "x_total", 1000, 1060, lookback_s=15) for _ in range(3)]
    assert [c.value for c in counts] == [3.0, 3.0, 3.0]
    assert len(prom.requests) == 1


def test_count_exact_reads_a_long_window_in_chunks(prom: FakeProm) -> None:
    prom.on("/api/v1/query", success(matrix(({"pod": "a"}, [(995, "1"), (1005, "4"), (1035, "9")]))))
    count = count_exact(client_for(prom), "x_total", 1000, 1060, lookback_s=15, chunk_s=20)
    assert [(r.params["query"], r.params["time"]) for r in prom.requests] == [
        ("x_total[35s]", "1020.000"), ("x_total[35s]", "1040.000"), ("x_total[35s]", "1060.000")]
    assert (count.value, count.series) == (8.0, 1)  # each answer repeats every sample: each counts once


def test_count_exact_lists_warnings(prom: FakeProm) -> None:
    prom.on("/api/v1/query", success(matrix(({}, [(995, "1"), (1005, "2")])), warnings=["partial"]))
    count = count_exact(client_for(prom), "x_total", 1000, 1060, lookback_s=15)
    assert (count.value, count.problems) == (1.0, ("warning: partial",))


def test_count_increase_reports_series_born_in_the_window(prom: FakeProm) -> None:
    prom.on("/api/v1/query", success(vector(({}, "106.6"))), query="sum(increase(errors_total[600s]))")
    prom.on("/api/v1/query", success(vector(({"code": "500"}, "120"))))
    count = count_increase(client_for(prom), "errors_total", 1000, 1600)
    assert (count.value, count.method) == (106.6, "increase")
    assert count.born_in_window == ({"code": "500"},)
    assert prom.requests[1].params["query"] == (
        "last_over_time(errors_total[600s]) unless last_over_time(errors_total[300s] @ 1000.000)"
    )
    assert {r.params["time"] for r in prom.requests} == {"1600.000"}


def test_histogram_bounds_keep_the_stored_spelling(prom: FakeProm) -> None:
    items = (({"le": "+Inf"}, "2"), ({"le": "1.0"}, "2"), ({"le": "0.25"}, "2"), ({"le": "10"}, "2"))
    prom.on("/api/v1/query", success(vector(*items)))
    bounds = histogram_bounds(client_for(prom), "lat_seconds", '{code="200"}', 1000, 1600)
    assert bounds == [("0.25", 0.25), ("1.0", 1.0), ("10", 10.0), ("+Inf", math.inf)]
    assert prom.requests[0].params["query"] == (
        'count by (le) (last_over_time(lat_seconds_bucket{code="200"}[600s]))'
    )


def test_scrape_health_finds_down_targets_and_gaps(prom: FakeProm) -> None:
    worst = vector(({"instance": "a:1"}, "1"), ({"instance": "b:1"}, "0"), ({"instance": "c:1"}, "1"))
    counts = vector(({"instance": "a:1"}, "60"), ({"instance": "b:1"}, "59"), ({"instance": "c:1"}, "40"))
    prom.on("/api/v1/query", success(worst), query='min_over_time(up{job="edge"}[60s])')
    prom.on("/api/v1/query", success(counts), query='count_over_time(up{job="edge"}[60s])')
    health = scrape_health(client_for(prom), '{job="edge"}', 1000, 1060, scrape_interval_s=1)
    assert (health.targets, health.down, health.gaps, health.problems) == (3, ("b:1",), ("c:1",), ())
    assert not health.healthy


def test_scrape_health_without_any_target_is_a_problem(prom: FakeProm) -> None:
    prom.on("/api/v1/query", success(vector()))
    health = scrape_health(client_for(prom), '{job="nope"}', 1000, 1060, scrape_interval_s=1)
    assert health.problems == ('no up series for {job="nope"} in the window: is the job scraped?',)
    assert not health.healthy
