"""A private Alertmanager (Debian package `prometheus-alertmanager`) on a free loopback port.

It routes every alert to one webhook receiver, with 1 s grouping so the delay from firing to the
webhook stays short. Its data folder and log live in `workdir`; gossip is off
(`--cluster.listen-address=` empty). The receiver's bearer token is read from `token_file`, which
the caller keeps outside the run folder, so the token is never written next to the results.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import PlatformError
from harness.prom.daemon import LoopbackDaemon

log = logging.getLogger(__name__)

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


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


class AlertmanagerServer(LoopbackDaemon):
    name = "Alertmanager"

    def __init__(self, workdir: Path, target: WebhookTarget) -> None:
        super().__init__(Path(workdir), Path(workdir) / "alertmanager.log")
        self.target = target
        self.config_path = self.workdir / "alertmanager.yml"
        self.storage_path = self.workdir / "alertmanager-data"

    def start(self, timeout_s: float = 20.0) -> None:
        if not Path(ALERTMANAGER).is_file():
            raise PlatformError(f"{ALERTMANAGER} not found: run `bash scripts/setup.sh` "
                                "(or apt-get install prometheus-alertmanager)")
        self.storage_path.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(build_config(self.target), indent=2))
        try:
            self.start_on_free_port(time.monotonic() + timeout_s, timeout_s, self.config_path)
        except BaseException:
            self.stop()
            raise
        log.info("Alertmanager %s ready (pid %s)", self.url, self.pid)

    def argv(self, port: int) -> list[str]:
        return [ALERTMANAGER, f"--config.file={self.config_path}", f"--storage.path={self.storage_path}",
                f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]

    def stop(self) -> None:
        """Idempotent: SIGTERM (it stops at once), SIGKILL if it lingers; always reaps."""
        self.terminate()
