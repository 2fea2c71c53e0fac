"""The webhook receiver Alertmanager calls: loopback only, bearer token required.

It parses Alertmanager's webhook body (version 4: `status`, and `alerts` each with `status`,
`labels.alertname`, `startsAt`) into frozen notices and hands each accepted notification to a
callback. It runs nothing itself: what an alert may start is decided by the caller, from the
experiment. The token is compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/alertmanager"
_MAX_BODY = 1 << 20


@dataclass(frozen=True)
class AlertNotice:
    name: str
    status: str  # "firing" | "resolved"
    labels: tuple[tuple[str, str], ...]
    starts_at: str


@dataclass(frozen=True)
class Notification:
    received_at: float
    status: str
    receiver: str
    alerts: tuple[AlertNotice, ...]

    def firing(self) -> tuple[AlertNotice, ...]:
        return tuple(a for a in self.alerts if a.status == "firing")


class BadPayload(ValueError):
    pass


def parse_notification(body: bytes, received_at: float) -> Notification:
    """Alertmanager's webhook JSON → Notification; BadPayload names what is wrong."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadPayload(f"not JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
        raise BadPayload("expected an object with an `alerts` list (Alertmanager webhook version 4)")
    alerts = []
    for index, item in enumerate(data["alerts"]):
        labels = item.get("labels") if isinstance(item, dict) else None
        if not isinstance(labels, dict) or not isinstance(labels.get("alertname"), str):
            raise BadPayload(f"alerts[{index}] has no labels.alertname")
        alerts.append(AlertNotice(labels["alertname"], str(item.get("status", "")),
                                  tuple(sorted((str(k), str(v)) for k, v in labels.items())),
                                  str(item.get("startsAt", ""))))
    return Notification(received_at, str(data.get("status", "")), str(data.get("receiver", "")), tuple(alerts))


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 (a free port) in a daemon thread; `stop()` on every path."""

    def __init__(self, token: str, on_notification: Callable[[Notification], None],
                 clock: Callable[[], float] = time.time) -> None:
        if len(token) < 16:
            raise ValueError("the webhook token must be at least 16 characters")
        self._expected = f"Bearer {token}".encode()
        self._on_notification = on_notification
        self._clock = clock
        self._lock = threading.Lock()
        self.notifications: list[Notification] = []
        self.rejected = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the webhook receiver is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}{WEBHOOK_PATH}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the stdlib logs every request line on stderr; our own log says what matters

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook", daemon=True)
        self._thread.start()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        received_at = self._clock()
        given = request.headers.get("Authorization", "").encode()
        if request.path != WEBHOOK_PATH or not hmac.compare_digest(given, self._expected):
            with self._lock:
                self.rejected += 1
            log.warning("webhook: rejected a request to %s without the run's token", request.path)
            self._answer(request, 401 if request.path == WEBHOOK_PATH else 404, b"unauthorized\n")
            return
        length = int(request.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._answer(request, 413, b"too large\n")
            return
        try:
            notification = parse_notification(request.rfile.read(length), received_at)
        except BadPayload as err:
            log.warning("webhook: a body that is not an Alertmanager notification: %s", err)
            self._answer(request, 400, f"{err}\n".encode())
            return
        with self._lock:
            self.notifications.append(notification)
        self._answer(request, 200, b"ok\n")
        try:
            self._on_notification(notification)
        except Exception:  # the callback's failure is the caller's to report, not Alertmanager's
            log.exception("webhook: handling a notification failed")

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", "text/plain")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def received(self) -> list[Notification]:
        with self._lock:
            return list(self.notifications)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
