"""The edge: Caddy 2.6 as a round-robin reverse proxy in front of the fault-proxy listeners.

Metrics, checked against /usr/bin/caddy 2.6.2 on the admin address (`http://ADMIN/metrics`), labels
`server="edge"` and `handler="reverse_proxy"` (there is no route or path label):

- `caddy_http_requests_total{server,handler}`: every request the proxy handler took, failures included.
- `caddy_http_request_errors_total{server,handler}`: requests the proxy itself failed: 502 when the
  upstream closed without answering (a killed replica), 503 when no upstream was available. These
  are NOT in the histograms below (error routes are not instrumented in 2.6), and the series is
  born with the first error.
- `caddy_http_request_duration_seconds{server,handler,method,code}` (histogram): responses that were
  written, with the upstream's status (an injected 503 is `code="503"`). Bucket bounds (`le`):
  0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 +Inf: 0.25, 0.5 and 1 are bounds, 0.3 is not.
  A request whose client gave up before the answer is recorded as `code="200"` with its duration.
- Same labels: `caddy_http_response_duration_seconds` (time to first byte),
  `caddy_http_request_size_bytes`, `caddy_http_response_size_bytes`; also
  `caddy_http_requests_in_flight{server,handler}` and `caddy_reverse_proxy_upstreams_healthy{upstream}`.

So an availability SLI at the edge is
  bad   = `caddy_http_request_duration_seconds_count{server="edge",code=~"5.."}`
          + `caddy_http_request_errors_total{server="edge"}`
  total = `caddy_http_requests_total{server="edge"}`
and a latency SLI counts `caddy_http_request_duration_seconds_bucket{server="edge",le="0.25"}` against
total. Active health checks bypass the server and are not counted; per-route SLIs come from the
replicas' own `http_requests_total{route}` (which never see requests lost to a dead replica).

Behaviour measured through the fault proxy: a dead replica fails its first request (GETs are retried
on another upstream after `try_interval`; a POST is answered 502), then passive health checks
(`max_fails 1`) eject it for `fail_duration`. Injected 503s pass through and do not eject.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import procs
from harness.errors import PlatformError

log = logging.getLogger(__name__)

CADDY = "/usr/bin/caddy"
SERVER_NAME = "edge"
ERROR_RESPONSE = {
    "handler": "static_response",
    "status_code": "{http.error.status_code}",
    "body": "edge: {http.error.status_code} {http.error.status_text}\n",
}


@dataclass(frozen=True)
class EdgeConfig:
    edge_port: int
    admin_port: int
    upstream_ports: tuple[int, ...]
    health_path: str = "/healthz"
    try_duration: str = "1s"
    try_interval: str = "100ms"
    fail_duration: str = "3s"


def build_config(cfg: EdgeConfig) -> dict[str, Any]:
    """Caddy JSON config: one plain-HTTP server on loopback with metrics, proxying to every upstream."""
    proxy = {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": f"127.0.0.1:{port}"} for port in cfg.upstream_ports],
        "load_balancing": {
            "selection_policy": {"policy": "round_robin"},
            "try_duration": cfg.try_duration,
            "try_interval": cfg.try_interval,
        },
        "health_checks": {
            "active": {"uri": cfg.health_path, "interval": "1s", "timeout": "1s"},
            # No unhealthy_status: an injected 503 must reach clients without ejecting its upstream.
            "passive": {"fail_duration": cfg.fail_duration, "max_fails": 1},
        },
    }
    server = {
        "listen": [f"127.0.0.1:{cfg.edge_port}"],
        "routes": [{"handle": [proxy]}],
        "errors": {"routes": [{"handle": [ERROR_RESPONSE]}]},
        "automatic_https": {"disable": True},
        "metrics": {},
    }
    return {
        "admin": {"listen": f"127.0.0.1:{cfg.admin_port}", "config": {"persist": False}},
        "logging": {"logs": {"default": {"level": "WARN"}}},
        "apps": {"http": {"grace_period": "1s", "servers": {SERVER_NAME: server}}},
    }


class Edge:
    """One Caddy process; its config, log and private HOME live in `workdir`."""

    def __init__(self, workdir: Path, cfg: EdgeConfig) -> None:
        self.workdir = workdir
        self.cfg = cfg
        self.config_path = workdir / "caddy.json"
        self.log_path = workdir / "caddy.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.cfg.edge_port}"

    @property
    def admin_address(self) -> str:
        return f"127.0.0.1:{self.cfg.admin_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout_s: float = 15.0) -> None:
        """Start Caddy and wait until both its admin and edge ports accept connections."""
        home = self.workdir / "caddy-home"
        for sub in ("data", "config"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(build_config(self.cfg), indent=2))
        env = dict(
            os.environ, HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config")
        )
        argv = [CADDY, "run", "--config", str(self.config_path)]
        self._proc = procs.spawn(argv, log_path=self.log_path, env=env, cwd=self.workdir)
        for port in (self.cfg.admin_port, self.cfg.edge_port):
            if not procs.wait_for_port("127.0.0.1", port, timeout=timeout_s, proc=self._proc):
                self.stop()
                raise PlatformError(f"caddy did not listen on 127.0.0.1:{port}; {log_tail(self.log_path)}")
        log.info("caddy edge on %s (admin %s), pid %d", self.url, self.admin_address, self._proc.pid)

    def stop(self) -> None:
        if self._proc is not None:
            procs.stop(self._proc, timeout=5.0)


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a component's log, for error messages."""
    try:
        text = path.read_text(errors="replace").rstrip().splitlines()[-lines:]
    except OSError:
        return f"no log at {path}"
    return f"last lines of {path}:\n" + "\n".join(text) if text else f"{path} is empty"
