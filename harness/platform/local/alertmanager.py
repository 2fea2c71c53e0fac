"""A private Alertmanager (Debian package `prometheus-alertmanager`) on a free loopback port.

It routes every alert to one webhook receiver, with 1 s grouping so the delay from firing to the
webhook stays short. Its data folder and log live in `workdir`; gossip is off
(`--cluster.listen-address=` empty). The receiver's bearer token is read from `token_file`, which
the caller keeps outside the run folder, so the token is never written next to the results.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from harness import procs
from harness.errors import PlatformError

log = logging.getLogger(__name__)

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
_START_ATTEMPTS = 3


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    token_file: Path


def build_config(target: WebhookTarget) -> dict[str, Any]:
    return {
        "route": {"receiver": "harness", "group_by": ["alertname"], "group_wait": "1s", "group_interval": "1s",
                  "repeat_interval": "1h"},
        "receivers": [{"name": "harness", "webhook_configs": [{
            "url": target.url, "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(target.token_file)}},
        }]}],
    }


class AlertmanagerServer:
    def __init__(self, workdir: Path, target: WebhookTarget) -> None:
        self.workdir = Path(workdir)
        self.target = target
        self.config_path = self.workdir / "alertmanager.yml"
        self.log_path = self.workdir / "alertmanager.log"
        self.storage_path = self.workdir / "alertmanager-data"
        self._port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        if not self._port:
            raise PlatformError("Alertmanager has no address yet: call start() first")
        return f"127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout_s: float = 20.0) -> None:
        if not Path(ALERTMANAGER).is_file():
            raise PlatformError(f"{ALERTMANAGER} not found: run `bash scripts/setup.sh` "
                                "(or apt-get install prometheus-alertmanager)")
        self.storage_path.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(build_config(self.target), indent=2))
        deadline = time.monotonic() + timeout_s
        try:
            for attempt in range(1, _START_ATTEMPTS + 1):
                self._spawn(procs.free_port())
                if self._wait_ready(deadline):
                    log.info("Alertmanager %s ready (pid %s)", self.url, self.pid)
                    return
                code = self._proc.poll() if self._proc is not None else None
                taken = code is not None and "address already in use" in self._tail()
                self.stop()
                if not taken or attempt == _START_ATTEMPTS:
                    why = f"exited with code {code}" if code is not None else f"not ready within {timeout_s:g}s"
                    raise PlatformError(f"Alertmanager {why} (config {self.config_path}); {self._tail()}")
        except BaseException:
            self.stop()
            raise

    def _spawn(self, port: int) -> None:
        self._port = port
        argv = [ALERTMANAGER, f"--config.file={self.config_path}", f"--storage.path={self.storage_path}",
                f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
        self._proc = procs.spawn(argv, log_path=self.log_path, cwd=self.workdir)

    def _wait_ready(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """Idempotent: SIGTERM (it stops at once), SIGKILL if it lingers; always reaps."""
        if self._proc is not None and self._proc.poll() is None:
            procs.stop(self._proc, timeout=5.0)

    def _tail(self, lines: int = 10) -> str:
        try:
            text = self.log_path.read_text(errors="replace").rstrip().splitlines()[-lines:]
        except OSError:
            return f"no log at {self.log_path}"
        return f"last lines of {self.log_path}:\n" + "\n".join(text)
