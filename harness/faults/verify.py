"""A fault's optional `verify:` block: a PromQL condition or an HTTP probe that must hold after injection.

The condition is tried repeatedly until it holds or `within` has passed since the injection. Every
sleep is a short slice, so a signal can halt the run while it waits. Header values never appear in
what is observed: they may hold tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import requests

from harness.errors import HarnessError
from harness.faults.base import FaultCheck
from harness.faults.calls import shown_url
from harness.prom.client import QueryAnswer
from harness.spec.faults import FaultVerify, ProbeCall

Query = Callable[[str, float], QueryAnswer]

POLL_EVERY_S = 0.5
MIN_PROBE_TIMEOUT_S = 0.1


@dataclass(frozen=True)
class Attempt:
    """One try of the condition: whether it held, and the answer as it may be shown."""

    held: bool
    answer: str
    answered: bool = True  # False: no answer at all (an error), so "not holding" is not proven


def check(verify: FaultVerify, query: Query | None, clock: Callable[[], float],
          sleep: Callable[[float], None], since: float | None = None) -> FaultCheck:
    """Try the condition until it holds or `verify.within` seconds after `since` (default: now)."""
    started = clock() if since is None else since
    what, attempt = _subject(verify, query)
    if attempt is None:
        return FaultCheck(None, f"could not check: no Prometheus to run the verify query `{verify.query}`")
    deadline = started + verify.within
    answered = False
    while True:
        now = clock()
        result = attempt(now, max(deadline - now, MIN_PROBE_TIMEOUT_S))
        answered = answered or result.answered
        elapsed = clock() - started
        if result.held:
            return FaultCheck(True, f"{what} {result.answer} after {elapsed:.1f}s")
        remaining = deadline - clock()
        if remaining <= 0:
            outcome = f"{what} did not hold within {verify.within:g}s (last answer: {result.answer})"
            return FaultCheck(False if answered else None, outcome)
        sleep(min(POLL_EVERY_S, remaining))


def _subject(verify: FaultVerify, query: Query | None) -> tuple[str, Callable[[float, float], Attempt] | None]:
    """What is checked, as shown, and one attempt at it given (now, seconds left)."""
    if verify.probe is not None:
        probe = verify.probe
        return (f"verify probe {probe.method} {shown_url(probe.url)}",
                lambda _now, left: _probe_once(probe, min(probe.timeout, left)))
    promql = str(verify.query)
    what = f"verify query `{promql}`"
    if query is None:
        return what, None
    return what, lambda now, _left: _query_once(query, promql, now)


def _query_once(query: Query, promql: str, at: float) -> Attempt:
    try:
        answer = query(promql, at)
    except HarnessError as err:  # EvidenceError messages already leave credentials out
        return Attempt(False, f"query failed: {err}", answered=False)
    return _condition(answer)


def _condition(answer: QueryAnswer) -> Attempt:
    """True when the answer has at least one sample; a scalar holds when it is neither 0 nor NaN."""
    if answer.result_type == "scalar":
        value = answer.scalar
        held = value is not None and not math.isnan(value) and value != 0
        return Attempt(held, "held" if held else f"scalar {value}")
    count = len(answer.vector) if answer.result_type == "vector" else len(answer.matrix)
    if count:
        return Attempt(True, "held")
    return Attempt(False, "empty")


def _probe_once(probe: ProbeCall, timeout_s: float) -> Attempt:
    try:
        response = requests.request(probe.method, probe.url, headers=probe.headers, timeout=timeout_s,
                                    allow_redirects=False)
    except requests.RequestException as err:
        return Attempt(False, f"no answer ({type(err).__name__})")
    expected = list(probe.expect_status)
    status = response.status_code
    response.close()
    if status in probe.expect_status:
        return Attempt(True, f"answered {status} (expected one of {expected})")
    return Attempt(False, f"HTTP {status}, expected one of {expected}")
