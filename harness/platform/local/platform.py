"""The embedded local platform as a run's target: the demo shop's replicas, the fault proxy, Caddy, Prometheus."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.errors import PlatformError
from harness.platform.base import ReplicaSet, ReplicaView
from harness.platform.local.alertmanager import WebhookTarget
from harness.platform.local.edge import CADDY
from harness.platform.local.stack import LocalStack
from harness.procs import pid_alive
from harness.prom.server import PROMETHEUS
from harness.spec.faults import faults_on


class LocalPlatform(ReplicaSet):
    name = "local"

    def __init__(self, run_dir: Path, replicas: int, restart_delay_s: float, rule_files: Sequence[Path],
                 webhook: WebhookTarget | None = None, auto_restart: bool = True) -> None:
        self._stack = LocalStack(run_dir, replicas=replicas, restart_delay_s=restart_delay_s,
                                 auto_restart=auto_restart, rule_files=tuple(rule_files), webhook=webhook)
        self.prometheus_url = ""
        self.load_host: str | None = None

    @property
    def fault_types(self) -> frozenset[str]:
        return faults_on("local")

    def start(self) -> None:
        missing = [path for path in (PROMETHEUS, CADDY) if not Path(path).is_file()]
        if missing:
            raise PlatformError(f"the local platform needs {' and '.join(missing)}: run `bash scripts/setup.sh` "
                                "(or apt-get install prometheus caddy)")
        try:
            self._stack.start()
        except BaseException:
            self._stack.stop()
            raise
        self.prometheus_url = self._stack.prometheus_url
        self.load_host = self._stack.edge_url

    def replicas(self) -> Sequence[ReplicaView]:
        # the state file lags a kill by up to one supervisor tick: a dead PID is never "ready"
        return tuple(ReplicaView(f"shop-{r.index}", r.index, r.pid, dict(r.labels), r.ready and pid_alive(r.pid))
                     for r in self._stack.replicas())

    def runbook_variables(self) -> dict[str, str]:
        """The supervisor's restart API, the edge's (Caddy's) admin API, and the Alertmanager."""
        found = {"SUPERVISOR_URL": self._stack.supervisor_url, "EDGE_ADMIN_URL": self._stack.edge_admin_url}
        if self._stack.alertmanager_url is not None:
            found["ALERTMANAGER_URL"] = self._stack.alertmanager_url
        return found

    def fault_proxy_url(self) -> str | None:
        return str(self._stack.fault_proxy_url)

    def close(self) -> None:
        self._stack.stop()
