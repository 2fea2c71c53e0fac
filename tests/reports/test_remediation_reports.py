"""The remediation chain in the console summary, the Markdown summary and the HTML report."""

from __future__ import annotations

import io
from typing import Any

from harness.reports.checks import Entry
from harness.reports.console import summary
from harness.reports.html import html_report
from harness.reports.markdown import gate_markdown
from tests.reports.results import FILE, checkout_result

T0 = 1020.0
CHAIN: dict[str, Any] = {
    "slo": "avail", "alert": "avail-page", "runbook": "../runbooks/restart.yaml", "first_fault": T0,
    "first_breach": T0 + 2, "alert_firing": T0 + 5, "webhook_received": T0 + 5.1, "recovered": T0 + 15,
    "time_to_detect_s": 5.0, "time_to_mitigate_s": 0.6, "time_to_recover_s": 10.0, "budget_consumed": 0.000133,
    "runbook_run": {"runbook": "restart", "trigger": "alert avail-page", "started": T0 + 5.1, "ended": T0 + 5.6,
                    "ok": True, "steps": [{"name": "restart missing replicas", "kind": "http", "started": T0 + 5.1,
                                           "ended": T0 + 5.2, "result": "ok"}]},
}


def _result() -> Any:
    return checkout_result(remediation=[CHAIN])


def test_console_shows_the_chain_and_its_numbers() -> None:
    out = io.StringIO()
    summary(_result(), out, colour=False)
    text = out.getvalue()
    assert "  remediation of avail: alert avail-page → runbook restart\n" in text
    assert ("    time to detect 5.0s, to mitigate 0.6s, to recover 10.0s; budget consumed 0.0133% between the first "
            "fault and the recovery\n") in text
    assert ("+0.0s first fault · +2.0s SLO breached · +5.0s alert firing · +5.1s webhook received · +5.1s runbook "
            "started · +5.2s step 'restart missing replicas' ok · +5.6s runbook done · +15.0s SLO back at "
            "objective") in text


def test_markdown_and_html_carry_the_same_figures() -> None:
    entry = Entry("checkout", FILE, _result())
    markdown = gate_markdown([entry], "1 FAIL", "FAIL")
    assert "**remediation of avail: alert avail-page → runbook restart:** time to detect 5.0s" in markdown
    page = html_report([entry], {}, "1 FAIL", "FAIL")
    assert "<h3>remediation of avail: alert avail-page → runbook restart</h3>" in page
    assert "<tr><td>+15.0s</td><td>SLO back at objective</td></tr>" in page


def test_a_result_without_remediation_has_no_such_section() -> None:
    out = io.StringIO()
    summary(checkout_result(), out, colour=False)
    assert "remediation of" not in out.getvalue()
