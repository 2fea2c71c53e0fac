"""The remediated expectation from measured moments (pure), and what the webhook may start."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.remediation.runbook import RunbookOutcome, StepOutcome
from harness.remediation.webhook import AlertNotice, BadPayload, Notification, parse_notification
from harness.run.chain_times import ChainTimes
from harness.run.remediation import RemediationChain
from harness.run.remediation_proof import remediated
from harness.spec.loader import load_experiment
from harness.spec.models import ExpectRemediated

DEMO = Path(__file__).resolve().parents[2] / "remediation" / "experiments" / "shop-outage-remediated.yaml"
T0 = 1_000_000.0
EXPECT = ExpectRemediated.model_validate({"remediated": "shop", "within": "45s"})


def _outcome(ok: bool = True) -> RunbookOutcome:
    step = StepOutcome("restart", "http", T0 + 5, T0 + 5.1, "ok" if ok else "failed",
                       "POST http://127.0.0.1:1/restart → HTTP 200" if ok else "answered HTTP 400")
    return RunbookOutcome("restart-shop", "alert shop-page", T0 + 5, T0 + 5.1, (step,), ok,
                          "all 1 step(s) ran" if ok else "step 'restart' (http) failed: answered HTTP 400")


HEALTHY = ChainTimes("shop", "shop-page", "rb.yaml", first_fault=T0, first_breach=T0 + 2, alert_firing=T0 + 5,
                     webhook=T0 + 5.05, runbook_outcome=_outcome(), recovered=T0 + 20, budget_consumed=1e-4)


@pytest.mark.parametrize(("chain", "verdict", "reason"), [
    pytest.param(HEALTHY, "PASS", "shop back at its objective 15.0s ± 1s after alert shop-page fired (within 45s)",
                 id="recovered_in_time"),
    pytest.param(replace(HEALTHY, recovered=T0 + 80), "FAIL", "75.0s ± 1s after alert shop-page fired (beyond 45s)",
                 id="recovered_late"),
    pytest.param(replace(HEALTHY, recovered=T0 + 50.5), "INCONCLUSIVE", "cannot tell against within 45s",
                 id="at_the_limit"),
    pytest.param(replace(HEALTHY, recovered=None), "FAIL", "shop was not back at its objective by the end",
                 id="never_recovered"),
    pytest.param(replace(HEALTHY, runbook_outcome=_outcome(False), recovered=None), "FAIL",
                 "runbook restart-shop failed: step 'restart' (http) failed: answered HTTP 400", id="runbook_failed"),
    pytest.param(replace(HEALTHY, alert_firing=None, webhook=None, runbook_outcome=None, recovered=None), "FAIL",
                 "alert shop-page never fired, so runbook rb.yaml never ran", id="alert_never_fired"),
    pytest.param(replace(HEALTHY, webhook=None, runbook_outcome=None), "FAIL",
                 "alert shop-page fired but never reached the webhook", id="alertmanager_never_called"),
    pytest.param(replace(HEALTHY, alert_firing=T0 - 30, webhook=T0 - 29), "INCONCLUSIVE",
                 "alert shop-page fired before the first fault", id="fired_before_the_fault"),
    pytest.param(replace(HEALTHY, first_fault=None), "INCONCLUSIVE", "no fault ran", id="no_fault"),
])
def test_remediated(chain: ChainTimes, verdict: str, reason: str) -> None:
    result = remediated(EXPECT, [chain], 1.0)
    assert (result.verdict, result.kind, result.target) == (verdict, "remediated", "shop")
    assert reason in result.reason


def test_the_times_between_the_moments() -> None:
    assert HEALTHY.time_to_detect_s == pytest.approx(5.0)
    assert HEALTHY.time_to_mitigate_s == pytest.approx(0.1)
    assert HEALTHY.time_to_recover_s == pytest.approx(15.0)
    assert replace(HEALTHY, runbook_outcome=_outcome(False)).time_to_mitigate_s is None


def test_alertmanager_payload() -> None:
    body = (b'{"version":"4","status":"firing","receiver":"harness","alerts":[{"status":"firing",'
            b'"labels":{"alertname":"shop-page","severity":"page"},"startsAt":"2026-12-04T01:00:00Z"}]}')
    notification = parse_notification(body, T0)
    assert notification.firing() == (AlertNotice("shop-page", "firing", (("alertname", "shop-page"),
                                                                        ("severity", "page")),
                                                  "2026-12-04T01:00:00Z"),)
    for bad in (b"nope", b'{"alerts": {}}', b'{"alerts": [{"labels": {}}]}'):
        with pytest.raises(BadPayload):
            parse_notification(bad, T0)


def _notification(*names: str) -> Notification:
    return Notification(T0, "firing", "harness", tuple(AlertNotice(n, "firing", (("alertname", n),), "")
                                                        for n in names))


def test_the_webhook_starts_only_the_runbook_the_experiment_names_once(tmp_path: Path) -> None:
    chain = RemediationChain(load_experiment(DEMO, {}), tmp_path)
    try:
        chain._on_notification(_notification("something-else", "shop-availability-ticket"))
        assert chain.state.started == []
        assert [name for _, name in chain.state.ignored] == ["something-else", "shop-availability-ticket"]
        chain._on_notification(_notification("shop-availability-page"))
        chain._on_notification(_notification("shop-availability-page"))
        assert [(alert, runbook) for _, alert, runbook in chain.state.started] == [
            ("shop-availability-page", "../runbooks/restart-shop.yaml")]
    finally:
        chain.finish()  # the platform never became ready: the runbook is cancelled before any step
    assert chain.state.outcomes == []


def test_a_short_webhook_token_from_the_environment_is_refused(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_WEBHOOK_TOKEN", "short")
    chain = RemediationChain(load_experiment(DEMO, {}), tmp_path)
    with pytest.raises(SpecError, match="HARNESS_WEBHOOK_TOKEN is shorter than 16 characters"):
        chain.prepare()
    chain.finish()
    assert (tmp_path / "alerting").is_dir()  # the generated rules were written (and checked) first


def test_prepare_writes_checked_rules_and_starts_a_loopback_receiver(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_WEBHOOK_TOKEN", raising=False)
    chain = RemediationChain(load_experiment(DEMO, {}), tmp_path)
    try:
        chain.prepare()
        webhook = chain.webhook
        assert webhook is not None and webhook.url.startswith("http://127.0.0.1:")
        assert oct(webhook.token_file.stat().st_mode & 0o777) == "0o600"
        assert tmp_path not in webhook.token_file.parents
        [rules] = chain.state.rule_files
        assert rules.name == "shop-outage-remediated.experiment.rules.yaml"
    finally:
        chain.finish()
    assert not webhook.token_file.exists()


def test_on_platform_external_the_users_alertmanager_is_watched_for_the_pages(tmp_path: Path) -> None:
    import yaml

    doc = yaml.safe_load(DEMO.read_text())
    doc.update({"target": {"platform": "external"}, "prometheus": {"url": "http://127.0.0.1:9090"},
                "load": {"profile": "shop-steady", "host": "http://127.0.0.1:8080"}, "faults": [],
                "remediation": [], "expect": [{"alert": "shop-availability-page", "within": "30s"}],
                "alerting": {"windows": "experiment",
                             "alertmanager": {"url": "http://127.0.0.1:9093", "headers": {"X-Team": "shop"}}}})
    path = tmp_path / "external.yaml"
    path.write_text(yaml.safe_dump(doc))
    chain = RemediationChain(load_experiment(path, {}), tmp_path)
    chain.prepare()
    try:
        watch = chain.state.alertmanager_watch
        assert watch is not None
        assert (watch.url, watch.alerts, watch.headers) == ("http://127.0.0.1:9093", ("shop-availability-page",),
                                                            {"X-Team": "shop"})
        assert chain.webhook is None  # no webhook receiver off the local platform
    finally:
        chain.finish()
