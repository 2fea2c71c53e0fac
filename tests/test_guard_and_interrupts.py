"""The abort guard's decisions and how signals halt a run (pure or in-process; no real Prometheus)."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from harness.errors import EvidenceError, Halt
from harness.faults.base import FaultCheck
from harness.plan import SliQueries
from harness.prom.client import QueryAnswer, Sample
from harness.run.faultrunner import FaultRecord
from harness.run.guard import AbortGuard
from harness.run.interrupts import Interrupts
from harness.run.record import RunRecord
from harness.run.runner import _conclude
from harness.spec.models import Abort

SLI = SliQueries("checkout", "ratio", None, 'x_total{code="500"}', "x_total")


class ScriptedPrometheus:
    """Answers each burn query with the next error ratio of a script (None: empty, 'fail': an error)."""

    def __init__(self, ratios: list[Any]) -> None:
        self.ratios = list(ratios)

    def query(self, promql: str, at: float) -> QueryAnswer:
        ratio = self.ratios.pop(0)
        if ratio == "fail":
            raise EvidenceError("Prometheus at http://127.0.0.1:1 did not answer")
        vector = () if ratio is None else (Sample({}, ratio),)
        return QueryAnswer(promql, at, "vector", vector=vector)


def guard(consecutive: int = 2) -> AbortGuard:
    abort = Abort(max_burn_rate=10, window="5s", check_every="1s", consecutive=consecutive)
    return AbortGuard(abort, [(SLI, 0.01)])  # 99 %: an error ratio of 0.2 is a burn rate of 20


def run_checks(g: AbortGuard, ratios: list[Any]) -> list[str | None]:
    prom = ScriptedPrometheus(ratios)
    return [g.check(prom, float(t)) for t in range(len(ratios))]  # type: ignore[arg-type]


def test_halts_after_consecutive_breaches_only() -> None:
    g = guard()
    outcomes = run_checks(g, [0.2, 0.0, 0.2, 0.3])
    assert outcomes[:3] == [None, None, None]
    assert outcomes[3] == "abort: burn rate of checkout was 30.0 over the last 5s, above 10, 2 checks in a row"
    assert [c["breach"] for c in g.checks] == [True, False, True, True]


@pytest.mark.parametrize("unreadable", [None, math.nan, "fail"], ids=["no_completed_requests", "nan", "query_fails"])
def test_a_burn_rate_that_cannot_be_read_counts_as_a_breach(unreadable: Any) -> None:
    g = guard()
    outcomes = run_checks(g, [unreadable, unreadable])
    assert outcomes[0] is None
    assert outcomes[1] is not None and "could not be read" in outcomes[1]
    assert g.checks[-1]["unknown"] == ["checkout"]


def test_a_healthy_check_resets_the_count() -> None:
    assert run_checks(guard(consecutive=3), [0.2, 0.2, 0.0, 0.2, 0.2]) == [None] * 5


def test_a_signal_outside_a_shield_halts_at_once() -> None:
    interrupts = Interrupts()
    interrupts.install()
    try:
        with pytest.raises(Halt, match="interrupted by SIGTERM"):
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0.1)  # let the handler run
    finally:
        interrupts.uninstall()


def test_a_signal_inside_a_shield_is_delivered_after_it() -> None:
    interrupts = Interrupts()
    interrupts.install()
    try:
        with interrupts.shield():
            os.kill(os.getpid(), signal.SIGINT)
            signal.sigtimedwait([], 0.1)
            interrupts.check()  # still shielded: nothing raised yet
        with pytest.raises(Halt, match="interrupted by SIGINT"):
            interrupts.check()
        interrupts.check()  # delivered once
        with pytest.raises(Halt):  # a later signal still halts: the user can always stop a wait
            os.kill(os.getpid(), signal.SIGINT)
            signal.sigtimedwait([], 0.1)
    finally:
        interrupts.uninstall()
    assert interrupts.reason == "interrupted by SIGINT"


def test_the_stop_file_halts(tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    interrupts = Interrupts(stop)
    interrupts.check()
    stop.touch()
    with pytest.raises(Halt, match="stop file"):
        interrupts.check()


def _state(tmp_path: Path, **fields: Any) -> RunRecord:
    state = RunRecord("x", "run", tmp_path, "local", 0.0)
    for key, value in fields.items():
        setattr(state, key, value)
    return state


def test_a_failed_revert_makes_any_run_an_error(tmp_path: Path) -> None:
    record = FaultRecord("slow", "latency", 0.0, 1.0, started=1.0, ended=2.0, reverted=False)
    state = _state(tmp_path, verdict="INCONCLUSIVE", reason="preflight: metric missing", faults=[record])
    _conclude(state)
    assert (state.verdict, state.exit_code) == ("ERROR", 5)
    assert state.problems == [f"ROLLBACK FAILED for slow: run `harness rollback {tmp_path}`"]


def test_an_unconfirmed_fault_effect_is_never_a_pass(tmp_path: Path) -> None:
    record = FaultRecord("kill", "pod-kill", 0.0, 0.0, started=1.0, ended=1.0,
                         check=FaultCheck(None, "could not check the effect: proxy gone"))
    state = _state(tmp_path, faults=[record])
    _conclude(state)
    assert (state.verdict, state.exit_code) == ("INCONCLUSIVE", 3)
    assert state.problems == ["fault kill could not be confirmed: could not check the effect: proxy gone"]
