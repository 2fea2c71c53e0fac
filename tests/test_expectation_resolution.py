"""The ± one-scrape-step resolution of remediation expectations, the reversed-range early return, safe()."""

from __future__ import annotations

import pytest

from harness.errors import EvidenceError
from harness.run import expectations
from harness.run.record import ExpectationResult
from harness.spec.models import ExpectAlert

CASES = [
    # id, observed, step, within, verdict
    ("clearly-inside", 3.0, 1.0, 10.0, "PASS"),
    ("plus-step-exactly-at-within", 9.0, 1.0, 10.0, "PASS"),
    ("zero-step-at-within", 10.0, 0.0, 10.0, "PASS"),
    ("within-step-below", 9.5, 1.0, 10.0, "INCONCLUSIVE"),
    ("at-within-with-step", 10.0, 1.0, 10.0, "INCONCLUSIVE"),
    ("minus-step-exactly-at-within", 11.0, 1.0, 10.0, "INCONCLUSIVE"),
    ("just-beyond-step", 11.5, 1.0, 10.0, "FAIL"),
    ("clearly-beyond", 30.0, 5.0, 10.0, "FAIL"),
    ("zero-step-just-beyond", 10.1, 0.0, 10.0, "FAIL"),
]


@pytest.mark.parametrize(("observed", "step", "within", "verdict"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_resolution_verdict(observed: float, step: float, within: float, verdict: str) -> None:
    result = expectations._result("recovers", "slo", within, observed, "back", step)
    assert result.verdict == verdict
    assert result.observed_s == observed
    assert (("cannot tell at this scrape interval" in result.reason) == (verdict == "INCONCLUSIVE"))
    assert f"± {step:g}s" in result.reason


def test_no_observation_fails() -> None:
    result = expectations._result("alert", "A", 10.0, None, "never fired", 1.0)
    assert (result.verdict, result.observed_s, result.reason) == ("FAIL", None, "never fired")


class NoQueries:
    """A Prometheus client that must not be asked anything."""

    def __init__(self) -> None:
        self.calls: list[object] = []

    def __getattr__(self, name: str) -> object:
        def record(*args: object, **kwargs: object) -> object:
            self.calls.append((name, args, kwargs))
            pytest.fail(f"queried Prometheus ({name}) for a reversed range")
        return record


REVERSED = [("end-before-start", 100.0, 90.0), ("empty-range", 100.0, 100.0)]


@pytest.mark.parametrize(("start", "end"), [r[1:] for r in REVERSED], ids=[r[0] for r in REVERSED])
def test_alert_reversed_range_returns_early_without_query(start: float, end: float) -> None:
    client = NoQueries()
    result = expectations.alert_fires(client, ExpectAlert(alert="X", within="30s"), start, end, 1.0)  # type: ignore[arg-type]
    assert result.verdict == "INCONCLUSIVE"
    assert result.reason.startswith("the run ended before")
    assert client.calls == []


@pytest.mark.parametrize(("start", "end"), [r[1:] for r in REVERSED], ids=[r[0] for r in REVERSED])
def test_ended_before_helper(start: float, end: float) -> None:
    result = expectations._ended_before("recovers", "s", 10.0, start, end, "the last fault ended")
    assert result is not None and result.reason == "the run ended before the last fault ended"
    assert expectations._ended_before("recovers", "s", 10.0, 1.0, 2.0, "x") is None


SAFE = [
    ("http-400", "query_range failed: HTTP 400 bad_data: end before start",
     "could not be judged: Prometheus refused the query (HTTP 400"),
    ("bare-503", "server said 503", "could not be judged: Prometheus refused the query (HTTP 503"),
    ("no-status", "connection refused", "could not be judged: the query failed (connection refused)"),
]


@pytest.mark.parametrize(("message", "prefix"), [s[1:] for s in SAFE], ids=[s[0] for s in SAFE])
def test_safe_turns_evidence_error_into_inconclusive(message: str, prefix: str) -> None:
    def call() -> ExpectationResult:
        raise EvidenceError(message)

    result = expectations.safe(call, "alert", "X", 30.0)
    assert result.verdict == "INCONCLUSIVE"
    assert result.reason.startswith(prefix)


def test_safe_shortens_long_answers() -> None:
    def call() -> ExpectationResult:
        raise EvidenceError("HTTP 400 " + "x" * 500)

    reason = expectations.safe(call, "alert", "X", 30.0).reason
    assert reason.endswith("…)") and len(reason) < 250


def test_safe_passes_results_through() -> None:
    ok = ExpectationResult("alert", "X", 30.0, "PASS", 1.0, "fired")
    assert expectations.safe(lambda: ok, "alert", "X", 30.0) is ok
