"""The target of a run: the embedded local platform, or an external system we only load and observe."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import PlatformError, UnsupportedError
from harness.faults.base import ReplicaView
from harness.procs import pid_alive
from harness.spec.loader import LoadedExperiment

log = logging.getLogger(__name__)


class RunningPlatform:
    """What a run needs from its target; `close()` stops whatever the harness started for it."""

    name: str = "external"
    prometheus_url: str = ""
    load_host: str | None = None

    def replicas(self) -> Sequence[ReplicaView]:
        return ()

    def fault_proxy_url(self) -> str | None:
        return None


    def close(self) -> None:
        return None


class LocalPlatform(RunningPlatform):
    name = "local"

    def __init__(self, run_dir: Path, replicas: int, restart_delay_s: float, rule_files: Sequence[Path]) -> None:
        from harness.platform.local.stack import LocalStack

        self._replicas = replicas
        self._stack = LocalStack(run_dir, replicas=replicas, restart_delay_s=restart_delay_s,
                                 rule_files=tuple(rule_files))

    def start(self) -> None:
        from harness.platform.local.edge import CADDY
        from harness.prom.server import PROMETHEUS

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

    def fault_proxy_url(self) -> str | None:
        return str(self._stack.fault_proxy_url)


    def close(self) -> None:
        self._stack.stop()


@dataclass
class ExternalPlatform(RunningPlatform):
    prometheus_url: str = ""
    load_host: str | None = None
    name: str = "external"


def open_platform(loaded: LoadedExperiment, run_dir: Path) -> RunningPlatform:
    """Start (local) or describe (external) the target. The caller must `close()` it on every path."""
    experiment = loaded.experiment
    platform = experiment.target.platform
    host = experiment.load.host or loaded.load.profile.host
    if platform == "local":
        local = experiment.target.local_or_default
        running = LocalPlatform(run_dir, local.replicas, local.restart_delay, loaded.alert_rules)
        running.start()
        if experiment.load.host:
            running.load_host = experiment.load.host
        return running
    if platform == "external":
        assert experiment.prometheus is not None
        return ExternalPlatform(prometheus_url=experiment.prometheus.url, load_host=host)
    raise UnsupportedError(
        "platform 'kubernetes' is not supported yet: the file is valid, but this version runs only "
        "'local' and 'external' experiments (nothing was started)"
    )
