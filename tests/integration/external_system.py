"""An "external system" the harness did not start: demo shop replicas behind HAProxy, with their own Prometheus.

    client ─▶ HAProxy edge (roundrobin, health checks, L7 retries) ─▶ shop replicas app1..appN
    Prometheus (private, its own scrape interval) scrapes: job "shop" (each replica, target label
    node="appI") and job "edge" (HAProxy's built-in Prometheus exporter on a separate frontend).

Every port is picked free on 127.0.0.1; every process is started by its PID here and stopped by its
PID on exit (a paused replica gets SIGCONT first), so nothing is left behind. A replica can be paused
(SIGSTOP: it still accepts TCP connections, the kernel queues them), resumed, killed and restarted on
its own port; a file `restart-<node>` appearing in the work folder restarts a dead replica, so a
`process` fault's `stop` command (`touch <file>`) can bring back the replica its `start` killed.

    with ExternalSystem(tmp_path, scrape_interval_s=1.0) as system:
        system.edge_url, system.prometheus_url, system.replica_pids["app2"], system.pause("app2")
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import requests

import harness
from harness import procs
from harness.prom.server import PrometheusServer, ScrapeTarget

HAPROXY = "/usr/sbin/haproxy"
SHOP_MODULE = "harness.platform.local.shop"
_START_TIMEOUT_S = 30.0
_WATCH_EVERY_S = 0.05

# The backend is built for a SIGSTOPped replica: its kernel still accepts connections, so only the
# response timeout shows it; L7 retries (redispatched to another server) hide it from clients, and
# the health check takes it out of the rotation after `fall` failed checks. `option redispatch 1`
# sends every retry to another server; `option http-buffer-request` waits for a POST's whole body
# before the first attempt, which is what makes a POST retryable at all (without it, checkouts sent
# to a paused replica end as 504).
HAPROXY_CONFIG = """\
global
    maxconn 2000
    hard-stop-after 3s

defaults
    mode http
    timeout connect 200ms
    timeout client 10s
    timeout server 300ms
    timeout check 300ms
    retries 2
    option redispatch 1
    option http-buffer-request
    retry-on conn-failure empty-response response-timeout

frontend edge
    bind 127.0.0.1:{edge_port}
    default_backend shop

frontend metrics
    bind 127.0.0.1:{metrics_port}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    http-request return status 404

backend shop
    balance roundrobin
    option httpchk GET /healthz
{servers}
"""


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (each from a socket bound to port 0)."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = procs.free_port()
        if port not in chosen:
            chosen.append(port)
    return chosen


def process_state(pid: int) -> str | None:
    """The state letter of /proc/PID/stat ('T' when stopped), None when the process is gone."""
    return procs.process_state(pid)


class ExternalSystem:
    def __init__(self, workdir: Path, scrape_interval_s: float = 1.0, replicas: int = 3) -> None:
        if replicas < 1:
            raise ValueError("at least one replica")
        self.workdir = Path(workdir)
        self.scrape_interval_s = scrape_interval_s
        self.nodes = tuple(f"app{i}" for i in range(1, replicas + 1))
        self._ports: dict[str, int] = {}
        self.edge_port = 0
        self.edge_metrics_port = 0
        self._replicas: dict[str, subprocess.Popen[bytes]] = {}
        self._haproxy: subprocess.Popen[bytes] | None = None
        self._prometheus: PrometheusServer | None = None
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.restarts: dict[str, int] = dict.fromkeys(self.nodes, 0)
        self._every_pid: set[int] = set()  # every process ever started here, to prove none is left

    # -- what tests read --------------------------------------------------------------------------

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"

    @property
    def edge_metrics_address(self) -> str:
        return f"127.0.0.1:{self.edge_metrics_port}"

    @property
    def prometheus_url(self) -> str:
        assert self._prometheus is not None, "not started"
        return self._prometheus.url

    @property
    def replica_pids(self) -> dict[str, int]:
        with self._lock:
            return {node: proc.pid for node, proc in self._replicas.items()}

    @property
    def replica_addresses(self) -> dict[str, str]:
        return {node: f"127.0.0.1:{port}" for node, port in self._ports.items()}

    def restart_file(self, node: str) -> Path:
        """Touch this file to have a dead replica restarted on its own port."""
        return self.workdir / f"restart-{node}"

    def pids(self) -> set[int]:
        """PIDs of every process of the system running now (replicas, HAProxy, Prometheus)."""
        with self._lock:
            found = {p.pid for p in self._replicas.values() if p.poll() is None}
        if self._haproxy is not None and self._haproxy.poll() is None:
            found.add(self._haproxy.pid)
        if self._prometheus is not None and self._prometheus.pid is not None:
            found.add(self._prometheus.pid)
        return found

    def alive_pids(self) -> list[int]:
        """PIDs this system ever started that still exist (none after stop())."""
        return sorted(pid for pid in self._every_pid if procs.pid_alive(pid))

    def state(self, node: str) -> str | None:
        return process_state(self.replica_pids[node])

    def stopped_nodes(self) -> list[str]:
        """Replicas left SIGSTOPped (state 'T')."""
        return [node for node, pid in self.replica_pids.items() if process_state(pid) == "T"]

    # -- faults the tests inject themselves ---------------------------------------------------------

    def pause(self, node: str) -> None:
        os.kill(self.replica_pids[node], signal.SIGSTOP)

    def resume(self, node: str) -> None:
        os.kill(self.replica_pids[node], signal.SIGCONT)

    def kill(self, node: str) -> None:
        with self._lock:
            proc = self._replicas[node]
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def restart(self, node: str, timeout_s: float = 10.0) -> int:
        """Start a dead replica again on its own port (kill it first if it still runs); its new PID."""
        with self._lock:
            old = self._replicas.get(node)
            if old is not None and old.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(old.pid, signal.SIGCONT)
                procs.stop(old, timeout=3.0)
            proc = self._spawn_replica(node)
            self.restarts[node] += 1
        self._wait_replica(node, proc, time.monotonic() + timeout_s)
        return proc.pid

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> ExternalSystem:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ports = free_ports(len(self.nodes) + 2)
        self._ports = dict(zip(self.nodes, ports, strict=False))
        self.edge_port, self.edge_metrics_port = ports[-2:]
        deadline = time.monotonic() + _START_TIMEOUT_S
        try:
            # Prometheus first: its first scrape comes up to one interval after start.
            self._start_prometheus(deadline)
            with self._lock:
                for node in self.nodes:
                    self._spawn_replica(node)
            self._start_haproxy()
            for node in self.nodes:
                self._wait_replica(node, self._replicas[node], deadline)
            self._wait_edge(deadline)
            assert self._prometheus is not None
            self._prometheus.wait_for_fresh_samples(max(1.0, deadline - time.monotonic() + 3 * self.scrape_interval_s))
        except BaseException:
            self.stop()
            raise
        self._watcher = threading.Thread(target=self._watch_restart_files, name="external-system-restarts",
                                         daemon=True)
        self._watcher.start()
        return self

    def stop(self) -> None:
        """Stop everything started here by its PID: paused replicas get SIGCONT first. Idempotent."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        with self._lock:
            replicas = list(self._replicas.values())
        for proc in replicas:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCONT)
        for proc in [*( [self._haproxy] if self._haproxy else []), *replicas]:
            with contextlib.suppress(Exception):
                procs.stop(proc, timeout=3.0)
        if self._prometheus is not None:
            with contextlib.suppress(Exception):
                self._prometheus.stop()

    def __enter__(self) -> ExternalSystem:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------------------

    def _start_prometheus(self, deadline: float) -> None:
        targets = [ScrapeTarget("shop", addr, labels={"node": node}) for node, addr in self.replica_addresses.items()]
        targets.append(ScrapeTarget("edge", self.edge_metrics_address, labels={"node": "edge"}))
        self._prometheus = PrometheusServer(self.workdir / "prometheus", targets,
                                            scrape_interval_s=self.scrape_interval_s)
        self._prometheus.start(timeout_s=max(1.0, deadline - time.monotonic()))
        if self._prometheus.pid is not None:
            self._every_pid.add(self._prometheus.pid)

    def _spawn_replica(self, node: str) -> subprocess.Popen[bytes]:
        root = str(Path(harness.__file__).resolve().parent.parent)
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH", "")]))
        index = self.nodes.index(node)
        argv = [sys.executable, "-m", SHOP_MODULE, "--port", str(self._ports[node]), "--replica", str(index + 1)]
        # SIGKILL when we die: a SIGSTOPped replica would keep a pending SIGTERM forever
        proc = procs.spawn(argv, log_path=self.workdir / f"{node}.log", env=dict(os.environ, PYTHONPATH=path),
                           cwd=self.workdir, death_signal=signal.SIGKILL)
        self._replicas[node] = proc
        self._every_pid.add(proc.pid)
        return proc

    def _wait_replica(self, node: str, proc: subprocess.Popen[bytes], deadline: float) -> None:
        url = f"http://{self.replica_addresses[node]}/healthz"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"replica {node} exited with {proc.returncode}; see {self.workdir / node}.log")
            try:
                if requests.get(url, timeout=1.0).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"replica {node} did not answer {url} in time")

    def _start_haproxy(self) -> None:
        servers = "\n".join(f"    server {node} {addr} check inter 500ms fall 2 rise 1"
                            for node, addr in self.replica_addresses.items())
        config = self.workdir / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(edge_port=self.edge_port, metrics_port=self.edge_metrics_port,
                                                servers=servers))
        check = subprocess.run([HAPROXY, "-c", "-q", "-f", str(config)], capture_output=True, text=True,
                               check=False)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy rejected {config}: {check.stdout}{check.stderr}")
        self._haproxy = procs.spawn([HAPROXY, "-db", "-f", str(config)], log_path=self.workdir / "haproxy.log",
                                    cwd=self.workdir, death_signal=signal.SIGKILL)
        self._every_pid.add(self._haproxy.pid)

    def _wait_edge(self, deadline: float) -> None:
        last = "no answer"
        while time.monotonic() < deadline:
            if self._haproxy is not None and self._haproxy.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self._haproxy.returncode}: "
                                   f"{(self.workdir / 'haproxy.log').read_text(errors='replace')[-2000:]}")
            try:
                edge = requests.get(f"{self.edge_url}/healthz", timeout=1.0)
                exporter = requests.get(f"http://{self.edge_metrics_address}/metrics", timeout=1.0)
                if edge.status_code == 200 and exporter.status_code == 200:
                    return
                last = f"edge {edge.status_code}, exporter {exporter.status_code}"
            except requests.RequestException as err:
                last = str(err)
            time.sleep(0.05)
        raise RuntimeError(f"the HAProxy edge did not answer in time ({last})")

    def _watch_restart_files(self) -> None:
        while not self._stopping.wait(_WATCH_EVERY_S):
            for node in self.nodes:
                trigger = self.restart_file(node)
                if not trigger.exists():
                    continue
                with contextlib.suppress(OSError):
                    trigger.unlink()
                with self._lock:
                    if self._stopping.is_set():
                        return
                    if self._replicas[node].poll() is None:
                        continue  # still running: nothing to restart
                    self._spawn_replica(node)
                    self.restarts[node] += 1


@contextlib.contextmanager
def external_system(workdir: Path, scrape_interval_s: float = 1.0, replicas: int = 3) -> Iterator[ExternalSystem]:
    """The system for the length of a with block; on exit no process of it remains (checked)."""
    system = ExternalSystem(workdir, scrape_interval_s=scrape_interval_s, replicas=replicas)
    with system:
        yield system
    remaining = []
    deadline = time.monotonic() + 5.0
    while (remaining := system.alive_pids()) and time.monotonic() < deadline:
        time.sleep(0.1)
    if remaining:
        raise AssertionError(f"external system processes left behind: {remaining}")
