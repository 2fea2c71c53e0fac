"""The alert path with the real parts: Prometheus evaluates a rule, Alertmanager routes the alert to
the harness's webhook receiver, the body is parsed and the runbook runs."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

from harness.platform.local.alertmanager import AlertmanagerServer, WebhookTarget
from harness.platform.local.platform import LocalPlatform
from harness.prom.server import PrometheusServer
from harness.remediation.alertmanager_watch import AlertmanagerWatch
from harness.remediation.runbook import RunbookContext, RunbookOutcome, run_runbook
from harness.remediation.webhook import Notification, WebhookReceiver
from tests.integration.conftest import matching_processes, wait_no_leftovers

pytestmark = pytest.mark.integration
TOKEN = "a-test-token-of-enough-length"


def _files(folder: Path) -> tuple[Path, Path]:
    rules = folder / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "t", "interval": "1s", "rules": [
        {"alert": "shop-down-page", "expr": "vector(1)", "labels": {"severity": "page"}}]}]}))
    runbook = folder / "runbook.yaml"
    runbook.write_text(yaml.safe_dump({
        "apiVersion": "harness/v1", "kind": "Runbook", "metadata": {"name": "mark-it"},
        "steps": [
            {"name": "mark", "command": ["touch", str(folder / "remediated")]},
            {"name": "alert is visible", "wait_for": {"query": 'ALERTS{alertname="shop-down-page"}',
                                                       "within": "20s"}},
        ]}))
    return rules, runbook


def test_prometheus_alertmanager_webhook_runbook(tmp_path: Path) -> None:
    before = {p.pid for p in matching_processes()}
    rules, runbook = _files(tmp_path)
    token_file = tmp_path / "secret" / "token"
    token_file.parent.mkdir()
    token_file.write_text(TOKEN)
    got: list[Notification] = []
    outcomes: list[RunbookOutcome] = []
    done = threading.Event()
    ctx = RunbookContext(cwd=tmp_path)

    def on_notification(notification: Notification) -> None:
        got.append(notification)
        if notification.firing() and not done.is_set():
            outcomes.append(run_runbook(runbook, "alert shop-down-page", ctx))
            done.set()

    receiver = WebhookReceiver(TOKEN, on_notification)
    receiver.start()
    alertmanager = AlertmanagerServer(tmp_path / "am", WebhookTarget(receiver.url, token_file))
    prometheus = PrometheusServer(tmp_path / "prom", rule_files=[rules], alertmanagers=[])
    try:
        alertmanager.start()
        prometheus = PrometheusServer(tmp_path / "prom", rule_files=[rules], alertmanagers=[alertmanager.address])
        prometheus.start()
        ctx.prometheus_url = prometheus.url
        started = time.monotonic()
        assert done.wait(timeout=60), f"no webhook call within 60s; rejected {receiver.rejected}"
        latency = time.monotonic() - started
        unauthorised = requests.post(receiver.url, json={"alerts": []}, timeout=5)
        wrong = requests.post(receiver.url, json={"alerts": []}, headers={"Authorization": "Bearer nope"}, timeout=5)
    finally:
        prometheus.stop()
        alertmanager.stop()
        receiver.stop()
    firing = got[0].firing()
    assert [a.name for a in firing] == ["shop-down-page"]
    assert ("severity", "page") in firing[0].labels
    assert outcomes[0].ok, outcomes[0].reason
    assert [s.result for s in outcomes[0].steps] == ["ok", "ok"]
    assert (tmp_path / "remediated").is_file()
    assert latency < 60
    assert (unauthorised.status_code, wrong.status_code) == (401, 401)
    assert receiver.rejected == 2
    assert TOKEN not in (tmp_path / "am" / "alertmanager.yml").read_text()
    assert TOKEN not in (tmp_path / "am" / "alertmanager.log").read_text()
    assert wait_no_leftovers(before, str(tmp_path)) == []


def test_the_receiver_listens_on_loopback_only(tmp_path: Path) -> None:
    receiver = WebhookReceiver(TOKEN, lambda _n: None)
    receiver.start()
    try:
        assert receiver.url.startswith("http://127.0.0.1:")
        body = {"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "x"}}]}
        ok = requests.post(receiver.url, json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        bad = requests.post(receiver.url, data=b"not json", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    finally:
        receiver.stop()
    assert (ok.status_code, bad.status_code) == (200, 400)
    assert [n.alerts[0].name for n in receiver.received()] == ["x"]
    assert os.environ.get("HARNESS_WEBHOOK_TOKEN") != TOKEN


def test_watching_a_users_alertmanager(tmp_path: Path) -> None:
    """Platform external: the first poll that shows the alert active in the user's Alertmanager."""
    before = {p.pid for p in matching_processes()}
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    alertmanager = AlertmanagerServer(tmp_path / "am", WebhookTarget("http://127.0.0.1:9/nowhere", token_file))
    try:
        alertmanager.start()
        watch = AlertmanagerWatch(alertmanager.url, {}, ["checkout-page", "other-page"])
        watch.tick(1.0)
        assert watch.first_seen == {}
        posted = requests.post(f"{alertmanager.url}/api/v2/alerts", timeout=5,
                               json=[{"labels": {"alertname": "checkout-page", "severity": "page"}}])
        assert posted.status_code == 200
        watch.tick(2.0)
        watch.tick(3.0)
    finally:
        alertmanager.stop()
    assert watch.first_seen == {"checkout-page": 2.0}
    unreachable = AlertmanagerWatch(alertmanager.url, {"Authorization": "Bearer s3cret"}, ["checkout-page"])
    unreachable.tick(4.0)
    assert unreachable.failures == 1 and "s3cret" not in unreachable.last_error
    assert wait_no_leftovers(before, str(tmp_path)) == []


def test_a_runbook_acts_on_the_local_platform_through_what_it_offers(tmp_path: Path) -> None:
    """The supervisor's API and Caddy's admin API, reached with the variables the platform offers."""
    before = {p.pid for p in matching_processes()}
    upstreams = "/config/apps/http/servers/edge/routes/0/handle/0/upstreams"
    runbook = tmp_path / "drain.yaml"
    runbook.write_text(yaml.safe_dump({
        "apiVersion": "harness/v1", "kind": "Runbook", "metadata": {"name": "drain-replica-2"},
        "steps": [
            {"name": "replicas", "http": {"method": "GET", "url": "${SUPERVISOR_URL}/replicas"}},
            {"name": "take replica 2 out of rotation", "http": {"method": "DELETE",
                                                               "url": "${EDGE_ADMIN_URL}" + upstreams + "/2"}},
        ]}))
    platform = LocalPlatform(tmp_path / "run", 3, 1.0, ())
    try:
        platform.start()
        variables = platform.runbook_variables()
        outcome = run_runbook(runbook, "by hand", RunbookContext(variables, cwd=tmp_path))
        left = requests.get(variables["EDGE_ADMIN_URL"] + upstreams, timeout=5).json()
    finally:
        platform.close()
    assert outcome.ok, outcome.reason
    assert sorted(variables) == ["EDGE_ADMIN_URL", "SUPERVISOR_URL"]  # no Alertmanager without alerting
    assert len(left) == 2
    assert wait_no_leftovers(before, str(tmp_path)) == []
