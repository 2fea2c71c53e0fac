"""Tests of the fault drivers, the fault runner and `harness rollback`, with the fakes they share."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from harness.faults.base import FaultContext, Platform, ReplicaView
from harness.plan import FaultSlot
from harness.platform.base import ReplicaSet
from harness.run.faultrunner import FaultRunner
from harness.run.journal import JOURNAL_NAME, Journal
from harness.spec.faults import FAULT_TYPES, FaultBase
from harness.spec.models import Experiment
from harness.spec.parsing import parse_model, read


@dataclass
class FakePlatform(ReplicaSet):
    """A platform with fixed replicas and, optionally, a fault proxy URL (external: neither). It is named
    "local" because it stands in for the local platform to the drivers (kubernetes has its own)."""

    replica_views: tuple[ReplicaView, ...] = ()
    proxy_url: str | None = None
    name: str = "local"
    prometheus_url: str = "http://127.0.0.1:9"
    load_host: str | None = None
    fault_types: frozenset[str] = frozenset(FAULT_TYPES)

    def start(self) -> None:
        return None

    def close(self) -> None:
        return None

    def replicas(self) -> Sequence[ReplicaView]:
        return self.replica_views

    def fault_proxy_url(self) -> str | None:
        return self.proxy_url


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


@dataclass
class RecordingServer:
    """A tiny threaded HTTP server on 127.0.0.1 (a port the kernel picks): records every request and
    answers each with `status`."""

    status: int = 200
    seen: list[SeenRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the server is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.seen if method is None or r.method == method]

    def __enter__(self) -> RecordingServer:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.seen.append(SeenRequest(self.command, self.path, dict(self.headers), body))
                self.send_response(recorder.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def write_experiment(folder: Path, faults: list[dict[str, Any]]) -> Path:
    """A valid experiment file (external platform) holding these faults."""
    document = {
        "apiVersion": "harness/v1",
        "kind": "Experiment",
        "metadata": {"name": "fault-tests"},
        "target": {"platform": "external"},
        "prometheus": {"url": "http://127.0.0.1:9"},
        "slos": [{"name": "shop", "objective": 99, "sli": {"ratio": {"bad": "bad", "total": "all"}}}],
        "load": {"profile": "steady"},
        "faults": faults,
        "hypothesis": [{"slo": "shop"}],
    }
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def load_faults(path: Path, environ: Mapping[str, str] | None = None) -> tuple[FaultBase, ...]:
    faults: tuple[FaultBase, ...] = parse_model(read(path), Experiment, environ).faults
    return faults


def slot_of(faults: Sequence[FaultBase], index: int) -> FaultSlot:
    fault = faults[index]
    return FaultSlot(index, fault, 0.0, fault.length)


def make_runner(run_dir: Path, experiment: Path, platform: Platform) -> FaultRunner:
    """A FaultRunner journalling into run_dir, with a clock that ticks one second per reading."""
    ticks = itertools.count(1000.0)

    def context(slot: FaultSlot) -> FaultContext:
        return FaultContext(platform, run_dir, experiment, slot.index, "test-seed")

    def clock() -> float:
        return next(ticks)

    return FaultRunner(Journal(run_dir), context, clock)


def journal_entries(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / JOURNAL_NAME
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def events(run_dir: Path, fault: str | None = None) -> list[str]:
    return [str(e["event"]) for e in journal_entries(run_dir) if fault is None or e["fault"] == fault]


def live_group_members(pgid: int) -> list[int]:
    """PIDs in process group pgid that are not zombies (a zombie has exited and awaits its parent)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def process_state(pid: int) -> str:
    """The one-letter state from /proc (R, S, T, Z...), or "gone"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
