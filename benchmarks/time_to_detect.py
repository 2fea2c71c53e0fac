"""Time to detect a total outage with the generated experiment-window page, against the burn-rate
maths, and the webhook-to-runbook-start latency.

One LocalStack with generated rules (`--windows experiment`) loaded into its Prometheus and a real
Alertmanager routed to the harness's webhook receiver. A paced load (~100 req/s) goes through the
Caddy edge. Each trial makes every request fail with one status through the fault proxy (a total
outage as the SLI sees it) until the page of that status's SLO reaches the webhook, then reverts.
One SLO per status (500 … 508, each 99 %), one status per trial, so no trial sees an earlier one's
errors in its own SLO.

Reported per trial: injection → page firing in Prometheus (ALERTS, at the rule evaluation step),
→ webhook received, and webhook → runbook start (the receiver's callback starts the runbook thread,
as a run does). With full healthy windows the maths predicts factor x budget x long window =
14.4 x 1 % x 60 s = 8.64 s (the fast page). A run of a few minutes has less history than the slow
page's 6 m window: rate() over it sees only H seconds of healthy traffic, so that condition (6 x 1 %)
crosses after 0.06 x H / 0.94 s, earlier than the fast one once H < ~2 min. Each trial's prediction
is the earlier of the two for its own H; evaluation, scrape and Alertmanager's 1 s grouping come on top.

    .venv/bin/python benchmarks/time_to_detect.py [--quick] [--trials N] [--warmup SECONDS]

`--warmup 400` fills the slow page's 6 m window too: then the fast page governs and the trials
approach the full-window figure, 8.64 s.
"""

from __future__ import annotations

import statistics
import threading
import time
from decimal import Decimal
from pathlib import Path

from _common import ITEM, Load, arguments, edge_port, leftovers, machine_line, scratch, setup_logging, table

from harness.platform.local.alertmanager import WebhookTarget
from harness.platform.local.stack import LocalStack
from harness.prom.client import PromClient
from harness.remediation.runbook import RunbookContext, run_runbook
from harness.remediation.webhook import Notification, WebhookReceiver
from harness.rules.files import rule_set, write
from harness.rules.generate import SloRules
from harness.rules.unit_tests import predicted_detect_s
from harness.spec.models import InlineSLO

STATUSES = (500, 501, 502, 503, 504, 505, 507, 508)
TOKEN = "benchmark-token-0123456789"
FAULT = "bench-outage"
TRIAL_TIMEOUT_S = 60.0


def slos() -> list[InlineSLO]:
    return [InlineSLO.model_validate({
        "name": f"edge-{status}", "objective": "99",
        "sli": {"ratio": {"bad": f'caddy_http_request_duration_seconds_count{{code="{status}"}}',
                          "total": "caddy_http_requests_total"}}}) for status in STATUSES]


class Watcher:
    """Webhook arrivals of each page, and when the runbook each one started began its first step."""

    def __init__(self, runbook: Path) -> None:
        self.runbook = runbook
        self.received: dict[str, float] = {}
        self.runbook_started: dict[str, float] = {}
        self.lock = threading.Lock()

    def on_notification(self, notification: Notification) -> None:
        for alert in notification.firing():
            with self.lock:
                if alert.name in self.received:
                    continue
                self.received[alert.name] = notification.received_at
            threading.Thread(target=self._run, args=(alert.name,), daemon=True).start()

    def _run(self, alert: str) -> None:
        outcome = run_runbook(self.runbook, f"alert {alert}", RunbookContext(cwd=self.runbook.parent))
        with self.lock:
            self.runbook_started[alert] = outcome.steps[0].started if outcome.steps else outcome.started


def predicted_s(rules: SloRules, history_s: float) -> float:
    """When the first page condition crosses for a total outage after `history_s` of healthy traffic:
    the long window's ratio is T / min(long, history + T) (rate() sees only the data there is)."""
    found = []
    for window in (w for w in rules.windows if w.severity == "page"):
        limit = float(window.factor * rules.budget)
        full = limit * window.long_s
        found.append(full if history_s + full >= window.long_s else limit * history_s / (1 - limit))
    return min(found)


def firing_at(client: PromClient, alert: str, since: float, until: float) -> float | None:
    answer = client.query_range(f'ALERTS{{alertname="{alert}",alertstate="firing"}}', since, until + 1, 0.25)
    return min((t for s in answer.matrix for t, v in s.points if v >= 1), default=None)


def trial(stack: LocalStack, client: PromClient, watcher: Watcher,
          status: int) -> tuple[float, float, float, float] | None:
    alert = f"edge-{status}-page"
    with watcher.lock:
        watcher.received.pop(alert, None)
        watcher.runbook_started.pop(alert, None)
    injected = time.time()
    stack.fault_proxy.put(FAULT, {"kind": "http-error", "rate": 1.0, "status": status, "targets": [0, 1, 2]})
    try:
        deadline = time.monotonic() + TRIAL_TIMEOUT_S
        while time.monotonic() < deadline and alert not in watcher.runbook_started:
            time.sleep(0.05)
    finally:
        stack.fault_proxy.delete(FAULT)
    if alert not in watcher.runbook_started:
        print(f"  {alert}: no webhook call within {TRIAL_TIMEOUT_S:g}s")
        return None
    fired = firing_at(client, alert, injected, time.time())
    received, started = watcher.received[alert], watcher.runbook_started[alert]
    return ((fired or received) - injected, received - injected, started - received, injected)


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--trials", type=int, default=None, help="trials (default 8, --quick 4)")
    parser.add_argument("--warmup", type=float, default=65.0, help="seconds of healthy load first (default 65)")
    args = parser.parse_args()
    setup_logging(args.verbose)
    trials = min(args.trials or (4 if args.quick else 8), len(STATUSES))
    print(machine_line())
    with scratch("ttd") as folder:
        made = rule_set("benchmark", "bench", slos(), "experiment")
        rules = write(made, folder / "rules").rule_path
        full_windows = predicted_detect_s(made.rules[0])
        runbook = folder / "runbook.yaml"
        runbook.write_text("apiVersion: harness/v1\nkind: Runbook\nmetadata: {name: noop}\n"
                           "steps:\n  - {name: nothing, command: ['true']}\n")
        (folder / "secret").mkdir(mode=0o700)
        token_file = folder / "secret" / "token"
        token_file.write_text(TOKEN)
        watcher = Watcher(runbook)
        receiver = WebhookReceiver(TOKEN, watcher.on_notification)
        receiver.start()
        stack = LocalStack(folder / "run", rule_files=[rules], webhook=WebhookTarget(receiver.url, token_file))
        pids: set[int] = set()
        results = []
        load: Load | None = None
        try:
            stack.start()
            pids |= set(stack.component_pids().values())
            client = PromClient(stack.prometheus_url)
            # bounded in count too: 25 req/s per thread for at most the whole benchmark's length
            seconds = max(60.0, args.warmup) + trials * 40 + 60
            load = Load(edge_port(stack), [ITEM], threads=4, rate_per_thread=25.0, per_thread=int(25 * seconds))
            load.start()
            load_started = time.time()
            print(f"warming up: {args.warmup:g}s of healthy traffic first (the fast page's window is 1 m)")
            time.sleep(max(60.0, args.warmup))
            for index in range(trials):
                status = STATUSES[index]
                outcome = trial(stack, client, watcher, status)
                if outcome is not None:
                    expected = predicted_s(made.rules[index], outcome[3] - load_started)
                    results.append((*outcome[:3], expected))
                    print(f"  trial {index + 1}: status {status}: page firing after {outcome[0]:.2f}s (predicted "
                          f"{expected:.2f}s for {outcome[3] - load_started:.0f}s of history), webhook after "
                          f"{outcome[1]:.2f}s, runbook started {outcome[2] * 1000:.1f} ms after the webhook")
                time.sleep(5)
        finally:
            if load is not None:
                load.stop()
            pids |= set(stack.component_pids().values())
            stack.stop()
            receiver.stop()
            print(f"local stack stopped; processes left behind: {leftovers(pids) or 'none'}")
    if not results:
        raise SystemExit("no trial reached the webhook")
    columns = list(zip(*results, strict=True))
    med = [statistics.median(column) for column in columns]

    def row(name: str, index: int, scale: float, predicted: str) -> list[str]:
        values = [v * scale for v in columns[index]]
        return [name, f"{med[index] * scale:.2f}", f"{min(values):.2f}", f"{max(values):.2f}", predicted]

    print()
    print(table(["figure", "median", "min", "max", "predicted (median)"], [
        row("injection -> page firing (s)", 0, 1.0, f"{med[3]:.2f}"),
        row("injection -> webhook received (s)", 1, 1.0, f"{med[3]:.2f} + evaluation and grouping"),
        row("webhook -> runbook start (ms)", 2, 1000.0, "-"),
    ]))
    print(f"\n{len(results)} of {trials} trials. With full healthy windows (a long-running service) the "
          f"prediction is 14.4 x {Decimal('0.01')} x 60 s = {full_windows:.2f}s; the trials had only minutes of "
          "history, so the slow page (6 x 1 % over 6 m) crossed first, as predicted per trial.")


if __name__ == "__main__":
    main()
