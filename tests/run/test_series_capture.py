"""The plots' series from a Prometheus answering from known raw samples: the counts are the verdict's
exact counts at each point of the grid, the burn rate is the error ratio over its window divided by
the budget, and the load per second comes from the load record."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from harness.evidence.counting import exact_increase
from harness.load.driver import LoadRun
from harness.load.record import Record
from harness.plan import build_plan
from harness.prom.client import PromClient, Series
from harness.run.record import RunRecord
from harness.run.series_capture import capture_series
from harness.spec.loader import load_experiment
from tests.fakes.prometheus import FakePrometheus, series

MINIMAL = Path(__file__).resolve().parents[1] / "data" / "spec" / "good" / "minimal.yaml"
T0 = 1_800_000_000.0
SCRAPES = range(-10, 121)  # every second from 10 s before the run to its end (120 s)


def _table() -> list[Any]:
    ok = [(T0 + i, 100.0 * (i + 10)) for i in SCRAPES]  # 100 good requests a second
    # 5xx: 10 a second between 60 s and 80 s, a counter born at 60 s
    errors = [(T0 + i, 10.0 * min(i - 59, 21)) for i in SCRAPES if i >= 60]
    return [series('http_requests_total{code="200"}', ok), series('http_requests_total{code="500"}', errors)]


class _Config:
    def mean_requested_rps(self, start: float, end: float) -> float:
        return 100.0


class _Load:
    started_at = T0
    config = _Config()

    def record(self) -> Record:
        counts = {int(T0) + s: {"home": (100, 0)} for s in range(0, 120)}
        return Record(started_at=T0, stopped_at=T0 + 120.0, counts=counts, users={})


def test_counts_burn_rate_and_load_on_the_grid() -> None:
    loaded = load_experiment(MINIMAL)
    plan = build_plan(loaded)
    state = RunRecord("minimal", "r1", Path("."), "local", T0,
                      phases={"baseline": {"start": T0, "end": T0 + 60.0}, "fault": {"start": T0 + 60.0,
                                                                                     "end": T0 + 120.0}})
    with FakePrometheus(_table()) as prometheus:
        captured = capture_series(PromClient(prometheus.url), loaded, plan, state, cast(LoadRun, _Load()))
    assert captured is not None
    [sli] = captured.slis
    assert (captured.step_s, captured.start, sli.objective, sli.burn_window_s) == (1.0, T0, 0.999, 12.0)
    assert sli.time[0] == T0 + 1 and sli.time[-1] == T0 + 120
    table = [Series(s.labels, s.points) for s in _table()]
    for at, good, total in zip(sli.time, sli.good, sli.total, strict=True):
        assert total == exact_increase(table, T0, at).value  # the verdict's counting, point by point
        bad = exact_increase(table[1:], T0, at).value or 0.0
        assert total is not None and good == total - bad
    burn = dict(zip(sli.time, sli.burn_rate, strict=True))
    assert burn[T0 + 11] is None  # the first 12 s have no full window yet
    assert burn[T0 + 40] == 0.0
    for at in sli.time[12:]:  # the error ratio of the exact counts over (at - 12 s, at], over the budget
        total = exact_increase(table, at - 12, at).value
        bad = exact_increase(table[1:], at - 12, at).value or 0.0
        assert total is not None and burn[at] == pytest.approx(bad / total / 0.001, rel=1e-5)  # six significant digits
    # the 5xx counter is born at 60 s with its first 10 errors: counted whole, where increase() misses them
    first = burn[T0 + 60]
    assert first is not None and first == pytest.approx(10 / 1210 / 0.001, rel=1e-5)
    assert captured.load.achieved_rps[:3] == (100.0, 100.0, 100.0) and captured.load.requested_rps[0] == 100.0
