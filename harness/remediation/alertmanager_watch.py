"""Watching the user's Alertmanager (platform external): when each alert of interest became active.

Alertmanager keeps no history, so it is polled during the run (`GET /api/v2/alerts`, active and not
silenced or inhibited). The first poll that shows an alert is when it had reached Alertmanager, to
within one poll interval. Header values (tokens) are never shown.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import requests

from harness.faults.calls import shown_url

log = logging.getLogger(__name__)

_TIMEOUT_S = 2.0


class AlertmanagerWatch:
    def __init__(self, url: str, headers: Mapping[str, str], alerts: Sequence[str]) -> None:
        self.url = url.rstrip("/")
        self.headers = dict(headers)
        self.alerts = tuple(alerts)
        self.first_seen: dict[str, float] = {}
        self.failures = 0
        self.last_error = ""

    def tick(self, now: float) -> None:
        """One poll; an unreachable Alertmanager is counted, never fatal to the run."""
        wanted = [a for a in self.alerts if a not in self.first_seen]
        if not wanted:
            return
        try:
            response = requests.get(f"{self.url}/api/v2/alerts", headers=self.headers, timeout=_TIMEOUT_S,
                                    params={"active": "true", "silenced": "false", "inhibited": "false"})
            response.raise_for_status()
            items = response.json()
        except (requests.RequestException, ValueError) as err:
            self.failures += 1
            self.last_error = f"{shown_url(self.url)}/api/v2/alerts: {type(err).__name__}"
            return
        active = {str((item.get("labels") or {}).get("alertname", "")) for item in items if isinstance(item, dict)}
        for alert in wanted:
            if alert in active:
                self.first_seen[alert] = now
                log.info("alert %s is active in Alertmanager %s", alert, shown_url(self.url))
