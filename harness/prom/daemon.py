"""A private Prometheus-family daemon (Prometheus, Alertmanager) on a free loopback port.

What both share: pick a free port, spawn, wait for `/-/ready`, try another port when the chosen one was
taken between picking and binding, say why in an error with the log's tail, stop by PID, idempotently.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import requests

from harness import procs
from harness.errors import PlatformError

log = logging.getLogger(__name__)

START_ATTEMPTS = 3
HTTP_TIMEOUT_S = 2.0


class LoopbackDaemon:
    """Subclasses give `name` and `argv(port)`; `start_on_free_port` runs them until one is ready."""

    name = "daemon"

    def __init__(self, workdir: Path, log_path: Path) -> None:
        self.workdir = Path(workdir)
        self.log_path = log_path
        self._port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def argv(self, port: int) -> list[str]:
        raise NotImplementedError

    @property
    def address(self) -> str:
        if not self._port:
            raise PlatformError(f"{self.name} has no address yet: call start() first")
        return f"127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start_on_free_port(self, deadline: float, timeout_s: float, config_path: Path) -> None:
        """Spawn on a free port until one is ready; PlatformError naming the config and the log tail."""
        for attempt in range(1, START_ATTEMPTS + 1):
            self._port = procs.free_port()
            self._proc = procs.spawn(self.argv(self._port), log_path=self.log_path, cwd=self.workdir)
            if self._wait_ready(deadline):
                return
            code = self._proc.poll()
            port_taken = code is not None and self._port_was_taken()
            self.terminate()
            if not port_taken or attempt == START_ATTEMPTS:
                why = f"exited with code {code}" if code is not None else f"not ready within {timeout_s:g} s"
                raise PlatformError(f"{self.name} {why} (config {config_path}); {self.tail()}")
            log.info("port %d was taken before %s bound it; trying another", self._port, self.name)

    def _wait_ready(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                if requests.get(f"{self.url}/-/ready", timeout=HTTP_TIMEOUT_S).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.1)
        return False

    def _port_was_taken(self) -> bool:
        try:
            return "address already in use" in self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return False

    def terminate(self) -> None:
        """Idempotent: SIGTERM, SIGKILL if it lingers; always reaps."""
        if self._proc is not None and self._proc.poll() is None:
            procs.stop(self._proc, timeout=5.0)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").rstrip().splitlines()[-lines:]
        except OSError:
            return f"no log at {self.log_path}"
        return f"last lines of {self.log_path}:\n" + "\n".join(text)
