"""The supervisor: keeps N shop replicas running on fixed ports, like a Deployment's controller.

`python -m harness.platform.local.supervisor --ports 8001,8002,8003 --state-file S.json
 --metrics-port M [--restart-delay 1.0] [--log-dir DIR] [--api-port A] [--no-auto-restart]`

A replica that exits or is killed is started again on the same port after the restart delay (a
pod's start-up time). The state file is rewritten atomically on every change: each replica's index,
port, pid, labels, restarts, started_at (unix time) and ready (its /healthz answered 200 since its
last start), plus `alive`. Metrics on 127.0.0.1:M: `shop_replicas_desired`, `shop_replicas_ready`
(replicas whose last health probe answered) and `shop_replica_restarts_total{replica}`.
SIGTERM or SIGINT stops every replica (SIGTERM, SIGKILL after 3 s) and exits.

With `--no-auto-restart` a dead replica stays down until asked for: that is what a runbook does,
through the API on 127.0.0.1:A (see `supervisor_api`): `GET /replicas`, and `POST /restart` with
`{"all_missing": true}` or `{"replica": 1}`, which starts the missing replicas at once (no delay).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, start_http_server

from harness import procs
from harness.platform.local.supervisor_api import serve_api

log = logging.getLogger(__name__)

_TICK_S = 0.05
_PROBE_EVERY_S = 0.25
_PROBE_TIMEOUT_S = 0.5
_STOP_GRACE_S = 3.0


@dataclass
class Slot:
    """Mutable bookkeeping of one replica, owned by the supervisor loop."""

    index: int
    port: int
    proc: subprocess.Popen[bytes] | None = None
    pid: int = 0
    restarts: int = 0
    started_at: float = 0.0
    ready: bool = False
    healthy: bool = False
    restart_at: float = 0.0
    next_probe: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "port": self.port, "pid": self.pid, "labels": self.labels,
            "restarts": self.restarts, "started_at": self.started_at, "ready": self.ready,
            "alive": self.proc is not None,
        }  # fmt: skip


class Supervisor:
    def __init__(self, ports: Sequence[int], state_file: Path, log_dir: Path, restart_delay_s: float,
                 auto_restart: bool = True) -> None:
        self.slots = [
            Slot(i, port, labels={"app": "shop", "replica": str(i)}) for i, port in enumerate(ports)
        ]
        self.state_file = state_file
        self.log_dir = log_dir
        self.restart_delay_s = restart_delay_s
        self.auto_restart = auto_restart
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        """Held by the loop while it changes slots, and by the API while it asks for a restart."""
        self.registry = CollectorRegistry()
        self.desired = Gauge(
            "shop_replicas_desired", "Replicas the supervisor keeps running.", registry=self.registry
        )
        self.ready = Gauge("shop_replicas_ready", "Replicas whose /healthz answers.", registry=self.registry)
        self.restarts = Counter(
            "shop_replica_restarts_total", "Restarts of a replica.", ("replica",), registry=self.registry
        )
        self.desired.set(len(self.slots))
        for slot in self.slots:
            self.restarts.labels(replica=str(slot.index))

    def run(self) -> None:
        for slot in self.slots:
            self._start(slot, first=True)
        self._write_state()
        while not self.stopping.is_set():
            changed = False
            now = time.monotonic()
            with self.lock:
                for slot in self.slots:
                    changed |= self._reap(slot, now) | self._restart_due(slot, now) | self._probe(slot, now)
            self.ready.set(sum(slot.healthy for slot in self.slots))
            if changed:
                self._write_state()
            self.stopping.wait(_TICK_S)
        self._stop_all()

    def _start(self, slot: Slot, *, first: bool) -> None:
        argv = [sys.executable, "-m", "harness.platform.local.shop", "--port", str(slot.port)]
        argv += ["--replica", str(slot.index)]
        # SIGKILL on our death: a replica paused by a process-pause fault would never act on a SIGTERM
        slot.proc = procs.spawn(argv, log_path=self.log_dir / f"shop-{slot.index}.log", death_signal=signal.SIGKILL)
        slot.pid, slot.started_at, slot.ready, slot.healthy = slot.proc.pid, time.time(), False, False
        slot.next_probe = time.monotonic() + 0.1
        if not first:
            slot.restarts += 1
            self.restarts.labels(replica=str(slot.index)).inc()
        log.info(
            "replica %d started on port %d, pid %d (restarts %d)",
            slot.index,
            slot.port,
            slot.pid,
            slot.restarts,
        )

    def _reap(self, slot: Slot, now: float) -> bool:
        if slot.proc is None or slot.proc.poll() is None:
            return False
        log.warning("replica %d (pid %d) exited with %s", slot.index, slot.pid, slot.proc.returncode)
        slot.proc, slot.ready, slot.healthy = None, False, False
        slot.restart_at = now + self.restart_delay_s if self.auto_restart else float("inf")
        return True

    def request_restart(self, which: int | None) -> list[int]:
        """Start the missing replicas (or replica `which`) on the next tick; the indexes asked for."""
        with self.lock:
            chosen = [s for s in self.slots if s.proc is None and (which is None or s.index == which)]
            for slot in chosen:
                slot.restart_at = 0.0
        return [s.index for s in chosen]

    def _restart_due(self, slot: Slot, now: float) -> bool:
        if slot.proc is not None or now < slot.restart_at:
            return False
        self._start(slot, first=False)
        return True

    def _probe(self, slot: Slot, now: float) -> bool:
        if slot.proc is None or now < slot.next_probe:
            return False
        slot.next_probe = now + _PROBE_EVERY_S
        healthy = probe_health(slot.port)
        changed = healthy and not slot.ready
        slot.healthy = healthy
        slot.ready = slot.ready or healthy
        return changed

    def _write_state(self) -> None:
        state = {
            "supervisor_pid": os.getpid(),
            "desired": len(self.slots),
            "restart_delay_s": self.restart_delay_s,
            "updated_at": time.time(),
            "replicas": [slot.to_json() for slot in self.slots],
        }
        write_json_atomically(self.state_file, state)

    def _stop_all(self) -> None:
        running = [slot.proc for slot in self.slots if slot.proc is not None]
        for proc in running:
            _signal_group(proc, signal.SIGTERM)
            _signal_group(proc, signal.SIGCONT)  # a paused replica must wake up to act on SIGTERM
        deadline = time.monotonic() + _STOP_GRACE_S
        for proc in running:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5.0)
        for slot in self.slots:
            slot.proc, slot.ready, slot.healthy = None, False, False
        self._write_state()
        log.info("all replicas stopped")


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def probe_health(port: int, path: str = "/healthz") -> bool:
    """True when the replica answers 200 on its health path right now."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=_PROBE_TIMEOUT_S)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def write_json_atomically(path: Path, data: object) -> None:
    """Readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Keep N demo shop replicas running.")
    parser.add_argument("--ports", required=True, help="comma-separated, one port per replica")
    parser.add_argument("--state-file", type=Path, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument(
        "--restart-delay", type=float, default=1.0, help="seconds before a dead replica restarts"
    )
    parser.add_argument(
        "--log-dir", type=Path, default=None, help="replica logs (default: the state file's folder)"
    )
    parser.add_argument("--api-port", type=int, default=None, help="serve the restart API on 127.0.0.1:PORT")
    parser.add_argument("--no-auto-restart", action="store_true", help="dead replicas wait for the API")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s")
    ports = [int(p) for p in args.ports.split(",") if p.strip()]
    supervisor = Supervisor(
        ports, args.state_file, args.log_dir or args.state_file.parent, args.restart_delay,
        auto_restart=not args.no_auto_restart,
    )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        supervisor.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    disable_created_metrics()  # type: ignore[no-untyped-call]
    start_http_server(args.metrics_port, addr="127.0.0.1", registry=supervisor.registry)
    api = serve_api(supervisor, args.api_port) if args.api_port else None
    try:
        supervisor.run()
    finally:
        if api is not None:
            api.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
