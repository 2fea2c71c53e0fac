"""What the benchmark scripts share: a bounded HTTP client, spreads, tables, a scratch folder.

The client uses `http.client` on keep-alive connections, one per thread: it adds far less time per
request than `requests`, so differences between two paths are not hidden by the client's own cost.
Every load is bounded in time and in count.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import logging
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import EvidenceError, PlatformError
from harness.platform.local.stack import LocalStack
from harness.procs import pid_alive
from harness.prom.client import PromClient

MAX_REQUESTS_PER_THREAD = 50_000  # a hard bound, whatever the duration asked for


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""


CATALOG = Request("GET", "/api/catalog")
ITEM = Request("GET", "/api/items/42")
CHECKOUT = Request("POST", "/api/checkout", b'{"item": 42, "qty": 1}')
HEALTH = Request("GET", "/healthz")


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it; status 0 means no response arrived."""

    started: float  # unix time when it was sent
    ended: float  # unix time when its answer (or failure) arrived
    latency_s: float
    status: int
    replica: str  # the X-Replica header of the shop that answered, "" without one


@dataclass(frozen=True)
class Spread:
    low: float
    median: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        items = sorted(values)
        if not items:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        return cls(items[0], statistics.median(items), items[-1], len(items))

    def show(self, fmt: str = "{:.2f}") -> str:
        return " / ".join(fmt.format(v) for v in (self.low, self.median, self.high))


class _Connection:
    """One keep-alive connection that reconnects after a failure."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self._address = (host, port)
        self._timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def send(self, request: Request) -> tuple[int, str]:
        conn = self._conn or http.client.HTTPConnection(*self._address, timeout=self._timeout_s)
        self._conn = conn
        headers = {"Content-Type": "application/json"} if request.body else {}
        try:
            conn.request(request.method, request.path, body=request.body or None, headers=headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            return 0, ""
        if response.will_close:
            self.close()
        return response.status, response.getheader("X-Replica") or ""

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Load:
    """Client threads sending `requests` in turn to 127.0.0.1:port until stopped or a count is reached.

    rate_per_thread paces each thread at a fixed rate (an open-ish load); None sends as fast as answers
    come back (closed loop).
    """

    def __init__(self, port: int, requests: Sequence[Request], *, threads: int,
                 rate_per_thread: float | None = None, per_thread: int = MAX_REQUESTS_PER_THREAD,
                 timeout_s: float = 5.0) -> None:
        self.port = port
        self.requests = tuple(requests)
        self.threads = threads
        self.rate_per_thread = rate_per_thread
        self.per_thread = min(per_thread, MAX_REQUESTS_PER_THREAD)
        self.timeout_s = timeout_s
        self._stopping = threading.Event()
        self._results: list[list[Outcome]] = []
        self._workers: list[threading.Thread] = []

    def start(self) -> None:
        self._stopping.clear()
        self._results = [[] for _ in range(self.threads)]
        self._workers = [
            threading.Thread(target=self._work, args=(i,), daemon=True, name=f"bench-client-{i}")
            for i in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()

    def stop(self) -> list[Outcome]:
        """Stop every thread (in-flight requests finish) and return every outcome, in start order."""
        self._stopping.set()
        return self.wait()

    def wait(self) -> list[Outcome]:
        for worker in self._workers:
            worker.join(timeout=self.timeout_s + 2.0)
        return sorted((o for results in self._results for o in results), key=lambda o: o.started)

    def run_for(self, seconds: float) -> list[Outcome]:
        self.start()
        self._stopping.wait(seconds)
        return self.stop()

    def run_count(self) -> list[Outcome]:
        """Every thread sends per_thread requests."""
        self.start()
        return self.wait()

    def _work(self, index: int) -> None:
        connection = _Connection("127.0.0.1", self.port, self.timeout_s)
        results = self._results[index]
        interval = 1.0 / self.rate_per_thread if self.rate_per_thread else 0.0
        next_at = time.monotonic()
        try:
            for sent in range(self.per_thread):
                if self._stopping.is_set():
                    break
                request = self.requests[(index + sent) % len(self.requests)]
                began, wall = time.perf_counter(), time.time()
                status, replica = connection.send(request)
                latency = time.perf_counter() - began
                results.append(Outcome(wall, wall + latency, latency, status, replica))
                if interval:
                    next_at += interval
                    self._stopping.wait(max(0.0, next_at - time.monotonic()))
        finally:
            connection.close()


def latencies_ms(outcomes: Iterable[Outcome]) -> list[float]:
    """Latencies of the answered requests (2xx), in milliseconds."""
    return [o.latency_s * 1000 for o in outcomes if 200 <= o.status < 300]


def median_ms(outcomes: Iterable[Outcome]) -> float:
    values = latencies_ms(outcomes)
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], left: int = 1) -> str:
    """A plain text table: the first `left` columns left-aligned, the others right-aligned."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(items: Sequence[str]) -> str:
        pairs = enumerate(zip(items, widths, strict=True))
        parts = [text.ljust(w) if i < left else text.rjust(w) for i, (text, w) in pairs]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(list(headers)), rule, *(line(row) for row in cells)])


def pct(value: float) -> str:
    return f"{value:+.3f} %"


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer and shorter trials (well under 1 minute)")
    parser.add_argument("--verbose", action="store_true", help="show the harness's own log lines")
    return parser


def setup_logging(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # tables appear as they are measured, even when piped
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def machine_line() -> str:
    loads = " ".join(f"{v:.2f}" for v in os.getloadavg())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{stamp}; {platform.node() or 'host'}: {os.cpu_count()} cores, load average {loads}; "
            f"Python {platform.python_version()}")


@contextmanager
def scratch(name: str) -> Iterator[Path]:
    """A private folder under the system temp dir, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"harness-bench-{name}-", ignore_cleanup_errors=True) as path:
        yield Path(path)


def leftovers(pids: Iterable[int], grace_s: float = 5.0) -> list[int]:
    """The PIDs (of processes we started) still alive after a grace period."""
    waiting = set(pids)
    deadline = time.monotonic() + grace_s
    while waiting and time.monotonic() < deadline:
        waiting = {pid for pid in waiting if pid_alive(pid)}
        if waiting:
            time.sleep(0.1)
    return sorted(waiting)


def wait_for_scrape_after(client: PromClient, job: str, moment: float, timeout_s: float = 15.0) -> None:
    """Until every target of `job` has a sample scraped after `moment` (evidence there has landed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = client.query(f'min(timestamp(up{{job="{job}"}}))', at=time.time())
        if answer.vector and answer.vector[0].value > moment:
            return
        time.sleep(0.2)
    raise EvidenceError(f"Prometheus has no scrape of job {job} after {moment:.3f} within {timeout_s:g} s")


@contextmanager
def local_stack(run_dir: Path, replicas: int = 3, restart_delay_s: float = 1.0) -> Iterator[LocalStack]:
    """A started LocalStack, stopped afterwards; prints whether any of its processes outlived it."""
    stack = LocalStack(run_dir, replicas=replicas, restart_delay_s=restart_delay_s)
    pids: set[int] = set()
    try:
        stack.start()
        pids |= set(stack.component_pids().values())
        yield stack
    finally:
        with contextlib.suppress(PlatformError):
            pids |= {r.pid for r in stack.replicas()} if stack.state_file.exists() else set()
        pids |= set(stack.component_pids().values())
        stack.stop()
        left = leftovers(pids)
        print(f"\nlocal stack stopped; processes left behind: {left or 'none'}")


def edge_port(stack: LocalStack) -> int:
    port = urlsplit(stack.edge_url).port
    assert port is not None
    return port
