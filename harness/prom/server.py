"""A private Prometheus (the Debian package's `/usr/bin/prometheus`) on a free loopback port.

Everything it writes stays in `workdir`: `prometheus.yml`, `prometheus.log` and, unless
`storage_path` is given, the TSDB in `prometheus-data/`. It can also serve an existing TSDB (for
example blocks made by `promtool tsdb create-blocks-from openmetrics`) with no targets at all; give
a retention long enough to keep those blocks (`retention="100y"`).

Another Prometheus may already listen on a common port of the machine, so start() picks a free
port, then checks through /api/v1/status/flags that the server answering is this one.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from harness.errors import PlatformError
from harness.prom.daemon import HTTP_TIMEOUT_S, LoopbackDaemon
from harness.promql import window_literal

log = logging.getLogger(__name__)

PROMETHEUS = "/usr/bin/prometheus"


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    address: str  # "127.0.0.1:PORT"
    labels: Mapping[str, str] = field(default_factory=dict)
    metrics_path: str = "/metrics"
    honor_labels: bool = False  # keep the target's own label values when they clash with these labels


def build_config(
    targets: Sequence[ScrapeTarget], scrape_interval_s: float, rule_files: Sequence[Path],
    alertmanagers: Sequence[str] = (),
) -> dict[str, Any]:
    """The configuration as a dict (JSON is valid YAML, so it is written as JSON)."""
    interval = window_literal(scrape_interval_s)
    jobs: dict[str, dict[str, Any]] = {}
    for target in targets:
        job = jobs.setdefault(
            target.job, {"job_name": target.job, "honor_labels": target.honor_labels, "static_configs": []}
        )
        if job["honor_labels"] != target.honor_labels:
            raise ValueError(f"targets of job {target.job!r} disagree on honor_labels")
        labels = {**target.labels, "__metrics_path__": target.metrics_path}
        job["static_configs"].append({"targets": [target.address], "labels": labels})
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "rule_files": [str(Path(p).resolve()) for p in rule_files],
        "scrape_configs": list(jobs.values()),
    }
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    return config


class PrometheusServer(LoopbackDaemon):
    name = "Prometheus"

    def __init__(
        self,
        workdir: Path,
        targets: Sequence[ScrapeTarget] = (),
        *,
        scrape_interval_s: float = 1.0,
        rule_files: Sequence[Path] = (),
        storage_path: Path | None = None,
        retention: str = "1h",
        alertmanagers: Sequence[str] = (),
    ) -> None:
        super().__init__(Path(workdir), Path(workdir) / "prometheus.log")
        self.targets = tuple(targets)
        self.scrape_interval_s = scrape_interval_s
        self.rule_files = tuple(rule_files)
        self.storage_path = (
            Path(storage_path) if storage_path is not None else self.workdir / "prometheus-data"
        )
        self.retention = retention
        self.alertmanagers = tuple(alertmanagers)
        self.config_path = self.workdir / "prometheus.yml"
        self.started_at = 0.0

    def start(self, timeout_s: float = 30.0) -> None:
        """Start on a free port and wait for /-/ready; PlatformError with the log tail otherwise."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage_path.mkdir(parents=True, exist_ok=True)
        config = build_config(self.targets, self.scrape_interval_s, self.rule_files, self.alertmanagers)
        self.config_path.write_text(json.dumps(config, indent=2))
        deadline = time.monotonic() + timeout_s
        self.started_at = time.time()
        try:
            self.start_on_free_port(deadline, timeout_s, self.config_path)
            self._check_identity()
        except BaseException:
            self.stop()
            raise
        log.info("Prometheus %s ready (pid %s, data %s)", self.url, self.pid, self.storage_path)

    def argv(self, port: int) -> list[str]:
        argv = [
            PROMETHEUS,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.storage_path}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ]
        if self.alertmanagers:
            # Prometheus re-sends firing alerts only every minute by default, and the first send can come
            # before it has discovered the Alertmanager (a 5 s ticker): resend every second instead.
            argv.append("--rules.alert.resend-delay=1s")
        return argv

    def _check_identity(self) -> None:
        """The server on our port must be ours: same TSDB path (another instance may own the port)."""
        try:
            flags = requests.get(f"{self.url}/api/v1/status/flags", timeout=HTTP_TIMEOUT_S).json()["data"]
        except (requests.RequestException, ValueError, KeyError) as err:
            raise PlatformError(
                f"Prometheus at {self.url} did not answer /api/v1/status/flags: {err}"
            ) from err
        theirs = Path(str(flags.get("storage.tsdb.path", ""))).resolve()
        if theirs != self.storage_path.resolve() or self._proc is None or self._proc.poll() is not None:
            raise PlatformError(
                f"the Prometheus answering at {self.url} is not the one just started (its TSDB is {theirs}, "
                f"ours {self.storage_path}); {self.tail()}"
            )

    def wait_for_fresh_samples(self, timeout_s: float = 30.0) -> None:
        """Every configured target is up and has an `up` sample newer than start()."""
        deadline = time.monotonic() + timeout_s
        stale = self._stale_targets()
        while stale and time.monotonic() < deadline:
            time.sleep(0.2)
            stale = self._stale_targets()
        if stale:
            raise PlatformError(
                f"Prometheus at {self.url} has no fresh sample after {timeout_s:g} s from: "
                + "; ".join(stale)
            )

    def _stale_targets(self) -> list[str]:
        """A description of each configured target that is not up with a fresh sample yet."""
        try:
            active = self._api("/api/v1/targets", {"state": "active"})["activeTargets"]
            ups = self._api("/api/v1/query", {"query": "timestamp(up)"})["result"]
        except PlatformError as err:
            return [str(err)]
        fresh = [dict(s["metric"]) for s in ups if float(s["value"][1]) > self.started_at]
        stale = []
        for target in self.targets:
            found = _find_active(active, target)
            if found is None:
                stale.append(f"{target.job} {target.address} (not among the active targets yet)")
            elif found.get("health") != "up":
                error = found.get("lastError") or "not scraped yet"
                stale.append(f"{target.job} {target.address} (health {found.get('health')}: {error})")
            elif dict(found["labels"]) not in fresh:
                stale.append(f"{target.job} {target.address} (no `up` sample since start)")
        return stale

    def _api(self, path: str, params: Mapping[str, str]) -> Any:
        try:
            response = requests.get(f"{self.url}{path}", params=dict(params), timeout=HTTP_TIMEOUT_S)
            return response.json()["data"]
        except (requests.RequestException, ValueError, KeyError) as err:
            raise PlatformError(f"Prometheus at {self.url}{path} failed: {err}") from err

    def reload(self) -> None:
        """Re-read the config and rule files (POST /-/reload)."""
        try:
            response = requests.post(f"{self.url}/-/reload", timeout=10.0)
        except requests.RequestException as err:
            raise PlatformError(f"Prometheus at {self.url} did not reload: {err}") from err
        if response.status_code != 200:
            raise PlatformError(f"Prometheus at {self.url} refused to reload: {response.text.strip()}")

    def stop(self) -> None:
        """Idempotent: /-/quit, then SIGTERM and SIGKILL if it lingers; always reaps the process."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            requests.post(f"{self.url}/-/quit", timeout=HTTP_TIMEOUT_S)
            proc.wait(timeout=5.0)
        except (requests.RequestException, subprocess.TimeoutExpired):
            pass
        self.terminate()

    def __enter__(self) -> PrometheusServer:
        if self._proc is None or self._proc.poll() is not None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _find_active(active: Sequence[Mapping[str, Any]], target: ScrapeTarget) -> Mapping[str, Any] | None:
    for entry in active:
        discovered = entry.get("discoveredLabels", {})
        if (
            discovered.get("job") == target.job
            and discovered.get("__address__") == target.address
            and discovered.get("__metrics_path__") == target.metrics_path
        ):
            return entry
    return None
