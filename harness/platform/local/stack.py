"""The local platform: shop replicas under a supervisor, a fault proxy, a Caddy edge and Prometheus.

    client ─▶ Caddy edge ─round robin─▶ fault proxy listener i ─▶ shop replica i (supervised)
    Prometheus scrapes: edge (Caddy admin /metrics), shop (each replica, label replica="<i>"),
    supervisor, faultproxy.

Every port is picked free on 127.0.0.1; every log is `run_dir/platform/<component>.log`. start()
sends one GET /healthz through the edge to prove the path end to end: Caddy counts it, the shop
counts it under route="/healthz".
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import requests

import harness
from harness import procs
from harness.errors import PlatformError
from harness.platform.local.alertmanager import AlertmanagerServer, WebhookTarget
from harness.platform.local.edge import Edge, EdgeConfig, log_tail
from harness.platform.local.faultproxy import FaultProxyClient
from harness.prom.server import PrometheusServer, ScrapeTarget

log = logging.getLogger(__name__)

_SHOP_MODULE = "harness.platform.local.shop"
START_ATTEMPTS = 3


@dataclass(frozen=True)
class Replica:
    index: int
    port: int
    pid: int
    labels: Mapping[str, str]
    restarts: int
    ready: bool
    started_at: float


@dataclass(frozen=True)
class StackPorts:
    replicas: tuple[int, ...]
    listeners: tuple[int, ...]
    control: int
    supervisor_metrics: int
    edge: int
    edge_admin: int
    supervisor_api: int


def pick_ports(replicas: int) -> StackPorts:
    """Distinct free loopback ports for every listener of the stack."""
    chosen: list[int] = []
    while len(chosen) < 2 * replicas + 5:
        port = procs.free_port()
        if port not in chosen:
            chosen.append(port)
    n = replicas
    return StackPorts(tuple(chosen[:n]), tuple(chosen[n : 2 * n]), *chosen[2 * n :])


def read_replicas(state_file: Path) -> list[Replica]:
    """The replicas as the supervisor's state file lists them now."""
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError) as err:
        raise PlatformError(f"cannot read the supervisor state {state_file}: {err}") from err
    return [
        Replica(
            index=int(r["index"]), port=int(r["port"]), pid=int(r["pid"]), labels=dict(r["labels"]),
            restarts=int(r["restarts"]), ready=bool(r["ready"] and r.get("alive", True)),
            started_at=float(r["started_at"]),
        )
        for r in state["replicas"]
    ]  # fmt: skip


class LocalStack:
    def __init__(
        self,
        run_dir: Path,
        *,
        replicas: int = 3,
        restart_delay_s: float = 1.0,
        auto_restart: bool = True,
        rule_files: Sequence[Path] = (),
        webhook: WebhookTarget | None = None,
    ) -> None:
        if replicas < 1:
            raise ValueError("a local stack needs at least one replica")
        self.run_dir = Path(run_dir)
        self.replica_count = replicas
        self.restart_delay_s = restart_delay_s
        self.auto_restart = auto_restart
        self.rule_files = tuple(rule_files)
        self.webhook = webhook
        """With a webhook: a private Alertmanager that Prometheus sends its alerts to, routed there."""
        self._alertmanager: AlertmanagerServer | None = None
        self.platform_dir = self.run_dir / "platform"
        self.state_file = self.platform_dir / "supervisor-state.json"
        self.ports: StackPorts | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._edge: Edge | None = None
        self._prometheus: PrometheusServer | None = None

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self._started_ports().edge}"

    @property
    def fault_proxy_url(self) -> str:
        return f"http://127.0.0.1:{self._started_ports().control}"

    @property
    def fault_proxy(self) -> FaultProxyClient:
        return FaultProxyClient(self.fault_proxy_url)

    @property
    def prometheus_url(self) -> str:
        if self._prometheus is None:
            raise PlatformError("the local stack is not started")
        return self._prometheus.url

    def _started_ports(self) -> StackPorts:
        if self.ports is None:
            raise PlatformError("the local stack is not started")
        return self.ports

    def start(self, timeout_s: float = 60.0) -> None:
        """Start every component; on any failure stop what was started and raise PlatformError."""
        if self._procs or self._prometheus is not None:
            raise PlatformError("this local stack was already started; use a new LocalStack")
        deadline = time.monotonic() + timeout_s
        started = time.monotonic()
        self.platform_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, START_ATTEMPTS + 1):
            logs_before = _log_sizes(self.platform_dir)
            try:
                self._start_once(deadline)
                break
            except PlatformError:
                self.stop()
                taken = _port_taken_in(self.platform_dir, logs_before)
                if taken is None or attempt == START_ATTEMPTS or time.monotonic() >= deadline:
                    raise
                # Ports are picked free before their owners bind them; another process can take one
                # in between. Everything of this attempt is stopped: start again on other ports.
                log.info("%s: a port was taken before it was bound; starting again on other ports", taken)
                self._forget_attempt()
            except BaseException:
                self.stop()
                raise
        log.info("local stack up in %.1f s: edge %s", time.monotonic() - started, self.edge_url)

    def _start_once(self, deadline: float) -> None:
        self.ports = ports = pick_ports(self.replica_count)
        # Prometheus first (after the Alertmanager it sends to): its first scrape comes ~5 s after
        # start, so the rest starts meanwhile.
        self._start_alertmanager(deadline)
        prometheus = self._start_prometheus(ports, deadline)
        self._start_supervisor(ports)
        self._start_fault_proxy(ports, deadline)
        self._start_edge(ports, deadline)
        self._wait_replicas_ready(deadline)
        self._wait_edge_answers(deadline)
        prometheus.wait_for_fresh_samples(max(1.0, deadline - time.monotonic()))

    def _forget_attempt(self) -> None:
        """After stop(): nothing of a failed attempt may be read as the next one's (its state file)."""
        self._procs = {}
        self._edge = self._prometheus = self._alertmanager = None
        self.ports = None
        self.state_file.unlink(missing_ok=True)

    def _start_prometheus(self, ports: StackPorts, deadline: float) -> PrometheusServer:
        targets = [ScrapeTarget("edge", f"127.0.0.1:{ports.edge_admin}")]
        targets += [
            ScrapeTarget("shop", f"127.0.0.1:{port}", labels={"replica": str(i)}, honor_labels=True)
            for i, port in enumerate(ports.replicas)
        ]
        targets += [
            ScrapeTarget("supervisor", f"127.0.0.1:{ports.supervisor_metrics}"),
            ScrapeTarget("faultproxy", f"127.0.0.1:{ports.control}"),
        ]
        alertmanagers = [self._alertmanager.address] if self._alertmanager is not None else []
        self._prometheus = server = PrometheusServer(self.platform_dir, targets, rule_files=self.rule_files,
                                                     alertmanagers=alertmanagers)
        try:
            server.start(timeout_s=max(1.0, deadline - time.monotonic()))
        except PlatformError as err:
            raise PlatformError(f"prometheus failed to start: {err}") from err
        return server

    def _start_alertmanager(self, deadline: float) -> None:
        if self.webhook is None:
            return
        self._alertmanager = AlertmanagerServer(self.platform_dir, self.webhook)
        self._alertmanager.start(timeout_s=max(1.0, deadline - time.monotonic()))

    @property
    def edge_admin_url(self) -> str:
        return f"http://127.0.0.1:{self._started_ports().edge_admin}"

    @property
    def supervisor_url(self) -> str:
        return f"http://127.0.0.1:{self._started_ports().supervisor_api}"

    @property
    def alertmanager_url(self) -> str | None:
        return self._alertmanager.url if self._alertmanager is not None else None

    def _spawn(self, name: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        root = str(Path(harness.__file__).resolve().parent.parent)
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH", "")]))
        env = dict(os.environ, PYTHONPATH=path)
        proc = procs.spawn(argv, log_path=self.platform_dir / f"{name}.log", env=env, cwd=self.platform_dir)
        self._procs[name] = proc
        return proc

    def _start_supervisor(self, ports: StackPorts) -> None:
        self._spawn(
            "supervisor",
            [
                sys.executable, "-m", "harness.platform.local.supervisor",
                "--ports", ",".join(map(str, ports.replicas)), "--state-file", str(self.state_file),
                "--metrics-port", str(ports.supervisor_metrics), "--restart-delay", str(self.restart_delay_s),
                "--log-dir", str(self.platform_dir), "--api-port", str(ports.supervisor_api),
                *([] if self.auto_restart else ["--no-auto-restart"]),
            ],
        )  # fmt: skip

    def _start_fault_proxy(self, ports: StackPorts, deadline: float) -> None:
        listen = ",".join(
            f"{i}={lp}:{up}" for i, (lp, up) in enumerate(zip(ports.listeners, ports.replicas, strict=True))
        )
        argv = [sys.executable, "-m", "harness.platform.local.faultproxy", "--listen", listen]
        proc = self._spawn("faultproxy", [*argv, "--control-port", str(ports.control)])
        for port in (ports.control, *ports.listeners):
            if not procs.wait_for_port(
                "127.0.0.1", port, timeout=max(0.1, deadline - time.monotonic()), proc=proc
            ):
                raise self._failure("faultproxy", f"did not listen on 127.0.0.1:{port}")

    def _start_edge(self, ports: StackPorts, deadline: float) -> None:
        self._edge = Edge(self.platform_dir, EdgeConfig(ports.edge, ports.edge_admin, ports.listeners))
        self._edge.start(timeout_s=max(0.1, deadline - time.monotonic()))

    def _wait_replicas_ready(self, deadline: float) -> None:
        supervisor = self._procs["supervisor"]
        logs_before = _log_sizes(self.platform_dir)
        while time.monotonic() < deadline:
            if supervisor.poll() is not None:
                raise self._failure("supervisor", f"exited with {supervisor.returncode}")
            # A replica whose port was taken would be restarted on it forever: no use waiting.
            taken = _port_taken_in(self.platform_dir, logs_before, prefix="shop-")
            if taken is not None:
                raise self._failure(taken.removesuffix(".log"), "its port was taken before it bound it")
            if self.state_file.exists():
                replicas = self.replicas()
                if len(replicas) == self.replica_count and all(r.ready for r in replicas):
                    return
            time.sleep(0.05)
        not_ready = [r.index for r in self.replicas() if not r.ready] if self.state_file.exists() else "all"
        logs = log_tail(self.platform_dir / "shop-0.log", 5)
        raise self._failure("supervisor", f"replicas {not_ready} not ready in time; shop-0: {logs}")

    def _wait_edge_answers(self, deadline: float) -> None:
        """One GET /healthz through the edge to a replica (counted by Caddy, route /healthz on the shop)."""
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                response = requests.get(f"{self.edge_url}/healthz", timeout=1.0)
                if response.status_code == 200 and "X-Replica" in response.headers:
                    return
                last = f"status {response.status_code}"
            except requests.RequestException as err:
                last = str(err)
            time.sleep(0.1)
        raise self._failure("caddy", f"the edge did not answer through to a replica ({last})")

    def _failure(self, component: str, why: str) -> PlatformError:
        return PlatformError(
            f"{component} failed to start: {why}; {log_tail(self.platform_dir / f'{component}.log')}"
        )

    def replicas(self) -> list[Replica]:
        """Fresh from the supervisor's state file on each call."""
        return read_replicas(self.state_file)

    def component_pids(self) -> dict[str, int]:
        """PIDs of the processes the stack started (replicas are the supervisor's children)."""
        pids = {name: proc.pid for name, proc in self._procs.items()}
        for name, pid in (("caddy", self._edge.pid if self._edge else None),
                          ("prometheus", self._prometheus.pid if self._prometheus else None),
                          ("alertmanager", self._alertmanager.pid if self._alertmanager else None)):  # fmt: skip
            if pid is not None:
                pids[name] = pid
        return pids

    def stop(self) -> None:
        """Stop every component in reverse order; idempotent, logs but never raises."""
        last_replicas = self._known_replicas()
        steps: list[tuple[str, Callable[[], None]]] = [("caddy", self._edge.stop if self._edge else _nothing)]
        steps += [
            (name, _stopper(self._procs[name]))
            for name in ("faultproxy", "supervisor")
            if name in self._procs
        ]
        steps.append(("prometheus", self._prometheus.stop if self._prometheus else _nothing))
        steps.append(("alertmanager", self._alertmanager.stop if self._alertmanager else _nothing))
        for name, step in steps:
            try:
                step()
            except Exception as err:  # one component's failure must not leave the others running
                log.warning("stopping %s failed: %s", name, err)
        for replica in last_replicas:
            _kill_orphan_replica(replica)

    def _known_replicas(self) -> list[Replica]:
        try:
            return self.replicas() if self.state_file.exists() else []
        except PlatformError:
            return []

    def __enter__(self) -> LocalStack:
        if not self._procs:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _log_sizes(folder: Path) -> dict[str, int]:
    return {path.name: path.stat().st_size for path in folder.glob("*.log")}


def _port_taken_in(folder: Path, sizes_before: Mapping[str, int], prefix: str = "") -> str | None:
    """The first component log that says, since sizes_before, that its address was in use."""
    for path in sorted(folder.glob(f"{prefix}*.log")):
        try:
            with open(path, "rb") as log_file:
                log_file.seek(sizes_before.get(path.name, 0))
                written = log_file.read().decode(errors="replace").lower()
        except OSError:
            continue
        if "address already in use" in written:
            return path.name
    return None


def _nothing() -> None:
    return None


def _stopper(proc: subprocess.Popen[bytes]) -> Callable[[], None]:
    # The supervisor needs up to 3 s to stop its replicas before it exits.
    return lambda: procs.stop(proc, timeout=8.0)


def _kill_orphan_replica(replica: Replica) -> None:
    """A replica that outlived its supervisor; its PID is checked to be that shop before the kill."""
    if not procs.pid_alive(replica.pid):
        return
    try:
        cmdline = Path(f"/proc/{replica.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return
    if _SHOP_MODULE.encode() in cmdline and str(replica.port).encode() in cmdline:
        log.warning("replica %d (pid %d) outlived its supervisor: killing it", replica.index, replica.pid)
        os.kill(replica.pid, signal.SIGKILL)
