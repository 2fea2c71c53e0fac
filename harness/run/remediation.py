"""The remediation chain of a run: generated rules, the webhook receiver, and the runbooks it starts.

fault → SLO burns → the generated alert fires in Prometheus → Alertmanager (platform local, started
by the platform) calls the receiver → the runbook of the alert's `remediation` entry runs → the SLO
comes back. The receiver starts only runbooks named in the experiment, at most once per alert name
per run; any other alert is recorded and nothing runs. The token is generated per run (or taken from
HARNESS_WEBHOOK_TOKEN), kept in a private 0600 file outside the run folder, and never logged.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import PlatformError, SpecError
from harness.platform.local.alertmanager import WebhookTarget
from harness.remediation.alertmanager_watch import AlertmanagerWatch
from harness.remediation.runbook import RunbookContext, RunbookOutcome, run_runbook
from harness.remediation.webhook import Notification, WebhookReceiver
from harness.rules.files import check, rule_set, write
from harness.spec.alerting import alerting_slos, generated_alert
from harness.spec.loader import LoadedExperiment

log = logging.getLogger(__name__)

TOKEN_VARIABLE = "HARNESS_WEBHOOK_TOKEN"
MIN_TOKEN_LENGTH = 16


@dataclass
class RemediationState:
    """What the chain recorded, with real timestamps (the receiver's and the runbooks' clocks)."""

    rule_files: tuple[Path, ...] = ()
    notifications: list[Notification] = field(default_factory=list)
    started: list[tuple[float, str, str]] = field(default_factory=list)
    """(time, alert, runbook) for each runbook the webhook started."""
    outcomes: list[RunbookOutcome] = field(default_factory=list)
    ignored: list[tuple[float, str]] = field(default_factory=list)
    """(time, alert) of firing alerts with no remediation entry: recorded, nothing run."""
    rejected: int = 0
    alertmanager_watch: AlertmanagerWatch | None = None
    """Platform external with `alerting.alertmanager`: the user's Alertmanager, polled during the run."""


class RemediationChain:
    """Set up before the platform starts, told the platform's variables once it runs, closed at the end."""

    def __init__(self, loaded: LoadedExperiment, run_dir: Path) -> None:
        self.loaded = loaded
        self.run_dir = run_dir
        self.state = RemediationState()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._ctx = RunbookContext(cwd=loaded.path.parent)
        self._ready = threading.Event()
        self._receiver: WebhookReceiver | None = None
        self._secret_dir: Path | None = None
        self._webhook: WebhookTarget | None = None
        self._by_alert = {r.on_alert: r for r in loaded.experiment.remediation}

    @property
    def webhook(self) -> WebhookTarget | None:
        return self._webhook

    def prepare(self) -> None:
        """Write and check the generated rules; on platform local, start the receiver."""
        experiment = self.loaded.experiment
        if experiment.alerting is not None:
            self.state.rule_files = (self._generated_rules(),)
        self.watch_alertmanager(sorted({r.on_alert for r in experiment.remediation}
                                       | {generated_alert(slo, "page") for slo in alerting_slos(experiment)}))
        if experiment.target.platform == "local" and (experiment.remediation or experiment.alerting):
            token = os.environ.get(TOKEN_VARIABLE) or secrets.token_urlsafe(32)
            if len(token) < MIN_TOKEN_LENGTH:
                raise SpecError([f"{TOKEN_VARIABLE} is shorter than {MIN_TOKEN_LENGTH} characters: use a longer "
                                 "secret, or unset it and the run generates one (nothing was started)"])
            self._secret_dir = Path(tempfile.mkdtemp(prefix="harness-webhook-"))
            token_file = self._secret_dir / "token"
            token_file.touch(mode=0o600)
            token_file.write_text(token)
            self._receiver = WebhookReceiver(token, self._on_notification)
            self._receiver.start()
            self._webhook = WebhookTarget(self._receiver.url, token_file)
            log.info("webhook receiver on %s", self._receiver.url)

    def watch_alertmanager(self, alerts: list[str]) -> None:
        alerting = self.loaded.experiment.alerting
        if alerting is not None and alerting.alertmanager is not None and alerts:
            self.state.alertmanager_watch = AlertmanagerWatch(alerting.alertmanager.url,
                                                              alerting.alertmanager.headers, alerts)

    def _generated_rules(self) -> Path:
        alerting = self.loaded.experiment.alerting
        assert alerting is not None
        only = alerting.slos or tuple(h.slo for h in self.loaded.experiment.hypothesis)
        made = rule_set(str(self.loaded.path), self.loaded.name, self.loaded.slos, alerting.windows, only)
        if made.problems:
            raise PlatformError("the generated alert rules would be wrong: " + "; ".join(made.problems))
        written = write(made, self.run_dir / "alerting")
        refused = [o for o in check(written) if not o.ok]
        if refused:
            raise PlatformError(f"promtool refused the generated rules: {refused[0].output}")
        return written.rule_path

    def platform_ready(self, variables: dict[str, str], prometheus_url: str) -> None:
        self._ctx.variables = {**variables, "PROMETHEUS_URL": prometheus_url}
        self._ctx.prometheus_url = prometheus_url
        self._ready.set()

    def _on_notification(self, notification: Notification) -> None:
        with self._lock:
            self.state.notifications.append(notification)
            for alert in notification.firing():
                remediation = self._by_alert.get(alert.name)
                if remediation is None:
                    self.state.ignored.append((notification.received_at, alert.name))
                    continue
                if any(started_alert == alert.name for _, started_alert, _ in self.state.started):
                    continue  # one runbook per alert and run: a repeated notification runs nothing new
                self.state.started.append((notification.received_at, alert.name, remediation.runbook))
                thread = threading.Thread(target=self._run, args=(remediation.runbook, alert.name),
                                          name=f"runbook-{alert.name}", daemon=True)
                self._threads.append(thread)
                thread.start()

    def _run(self, runbook: str, alert: str) -> None:
        while not self._ready.wait(0.1):  # an alert can only come once the platform runs; be sure anyway
            if self._ctx.cancel.is_set():
                return
        path = self.loaded.runbooks[runbook].path
        outcome = run_runbook(path, f"alert {alert}", self._ctx)
        with self._lock:
            self.state.outcomes.append(outcome)

    def finish(self) -> None:
        """Cancel runbooks still running (recorded as cancelled), then stop the receiver. Idempotent."""
        self._ctx.cancel.set()
        for thread in self._threads:
            thread.join(timeout=35.0)
        if self._receiver is not None:
            self.state.rejected = self._receiver.rejected
            self._receiver.stop()
            self._receiver = None
        if self._secret_dir is not None:
            shutil.rmtree(self._secret_dir, ignore_errors=True)
