"""The supervisor's small HTTP API on 127.0.0.1, for runbooks (and people) to act on the replicas.

    GET  /replicas                       → {"replicas": [{"index", "alive", "ready", "restarts"}]}
    POST /restart {"all_missing": true}  → {"restarting": [1, 2]}   start every missing replica now
    POST /restart {"replica": 1}         → {"restarting": [1]}      (an empty list when it is running)

Only loopback is bound; anything else is a 400 or 404 with a JSON error.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.platform.local.supervisor import Supervisor


def serve_api(supervisor: Supervisor, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/replicas":
                return _answer(self, 404, {"error": "unknown path: use GET /replicas or POST /restart"})
            with supervisor.lock:
                replicas = [{"index": s.index, "alive": s.proc is not None, "ready": s.healthy,
                             "restarts": s.restarts} for s in supervisor.slots]
            _answer(self, 200, {"replicas": replicas})

        def do_POST(self) -> None:
            if self.path != "/restart":
                return _answer(self, 404, {"error": "unknown path: use POST /restart"})
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                which = _which(body, len(supervisor.slots))
            except ValueError as err:
                return _answer(self, 400, {"error": str(err)})
            _answer(self, 200, {"restarting": supervisor.request_restart(which)})

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="supervisor-api", daemon=True).start()
    return server


def _which(body: Any, count: int) -> int | None:
    if not isinstance(body, dict):
        raise ValueError('expected {"all_missing": true} or {"replica": N}')
    if body.get("all_missing") is True and "replica" not in body:
        return None
    replica = body.get("replica")
    if isinstance(replica, int) and not isinstance(replica, bool) and 0 <= replica < count:
        return replica
    raise ValueError(f'expected {{"all_missing": true}} or {{"replica": N}} with N from 0 to {count - 1}')


def _answer(handler: BaseHTTPRequestHandler, status: int, data: object) -> None:
    body = json.dumps(data).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
