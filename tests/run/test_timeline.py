"""The run loop on a fake clock: phases and faults at their offsets, tickers between them, every halt path.

No process, no sleep: a whole 45 s timeline runs in milliseconds, and every time is exact.
"""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import pytest

from harness.errors import Halt
from harness.plan import FaultSlot, Plan, build_plan
from harness.run.interrupts import Interrupts
from harness.run.timeline import Ticker, run_timeline
from harness.spec.loader import load_experiment

DATA = Path(__file__).resolve().parents[1] / "data" / "spec"
T0 = 1_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "the loop never busy-waits"
        self.now += seconds
        self.slept += seconds


class RecordedFaults:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, str, float]] = []

    def inject(self, slot: FaultSlot) -> None:
        self.calls.append(("inject", slot.name, self.clock()))

    def revert(self, name: str) -> None:
        self.calls.append(("revert", name, self.clock()))


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    (tmp_path / "loadprofiles").mkdir()
    (tmp_path / "loadprofiles" / "steady-peak.yaml").write_text((DATA / "loadprofiles" / "steady-peak.yaml")
                                                                .read_text())
    (tmp_path / "timeline.yaml").write_text(textwrap.dedent("""\
        apiVersion: harness/v1
        kind: Experiment
        metadata: {name: timeline}
        slos:
          - name: availability
            objective: 99
            sli: {ratio: {bad: 'http_requests_total{code=~"5.."}', total: http_requests_total}}
        load: {profile: steady-peak}
        phases: {warmup: 5s, baseline: 10s, fault: 20s, recovery: 10s}
        faults:
          - {name: kill-one, type: pod-kill, at: 2s}
          - {name: slow, type: latency, at: 5s, duration: 10s, delay: 300ms}
        hypothesis: [{slo: availability}]
        """))
    return build_plan(load_experiment(tmp_path / "timeline.yaml"))


def _run(plan: Plan, clock: FakeClock, faults: RecordedFaults, tickers: list[Ticker] | None = None,
         interrupts: Interrupts | None = None) -> dict[str, dict[str, float]]:
    phases: dict[str, dict[str, float]] = {}
    try:
        run_timeline(plan, T0, faults, phases, tickers or [], interrupts or Interrupts(), clock, clock.sleep)
    finally:
        faults.calls.append(("stopped", "", clock()))
    return phases


def test_phases_and_faults_happen_at_their_offsets(plan: Plan) -> None:
    clock = FakeClock()
    faults = RecordedFaults(clock)
    phases = _run(plan, clock, faults)
    expected = {"warmup": (0, 5), "baseline": (5, 15), "fault": (15, 35), "recovery": (35, 45)}
    for name, (start, end) in expected.items():
        assert (phases[name]["start"] - T0, phases[name]["end"] - T0) == pytest.approx((start, end)), name
    assert [(kind, name) for kind, name, _ in faults.calls] == [
        ("inject", "kill-one"), ("inject", "slow"), ("revert", "slow"), ("stopped", "")]
    times = [at - T0 for _, _, at in faults.calls]
    assert times == pytest.approx([17.0, 20.0, 30.0, 45.0])  # an instant fault has nothing to revert


def test_tickers_run_between_events_and_a_failing_one_does_not_stop_the_run(plan: Plan) -> None:
    clock = FakeClock()
    seen: list[float] = []

    def broken(_: float) -> None:
        raise RuntimeError("progress sink gone")

    _run(plan, clock, RecordedFaults(clock), [Ticker(5.0, lambda now: seen.append(now - T0)), Ticker(1.0, broken)])
    assert seen == pytest.approx([5.0 * i for i in range(1, 9)], abs=0.21)


def test_a_ticker_halt_stops_the_timeline_at_once(plan: Plan) -> None:
    clock = FakeClock()
    faults = RecordedFaults(clock)

    def abort_at_22(now: float) -> None:
        if now - T0 >= 22:
            raise Halt("abort: burn rate 40 > 14.4")

    with pytest.raises(Halt, match="burn rate"):
        _run(plan, clock, faults, [Ticker(1.0, abort_at_22)])
    assert [(kind, name) for kind, name, _ in faults.calls] == [
        ("inject", "kill-one"), ("inject", "slow"), ("stopped", "")]  # the runner reverts, not the timeline
    assert faults.calls[-1][2] - T0 == pytest.approx(22.0, abs=0.21)


def test_the_stop_file_halts_within_a_tick(plan: Plan, tmp_path: Path) -> None:
    clock = FakeClock()
    stop = tmp_path / "STOP"
    faults = RecordedFaults(clock)

    def create_at_18(now: float) -> None:
        if now - T0 >= 18:
            stop.touch()

    with pytest.raises(Halt, match="stop file"):
        _run(plan, clock, faults, [Ticker(1.0, create_at_18)], Interrupts(stop_file=stop))
    assert faults.calls[-1][2] - T0 == pytest.approx(18.0, abs=0.21)
    assert "revert" not in [kind for kind, _, _ in faults.calls]


def test_a_signal_during_a_shielded_fault_change_halts_right_after_it(plan: Plan) -> None:
    clock = FakeClock()
    interrupts = Interrupts()
    faults = RecordedFaults(clock)

    def signal_at_3(now: float) -> None:
        if now - T0 >= 3 and interrupts.reason is None:
            with interrupts.shield():  # as while a fault is injected or reverted
                os.kill(os.getpid(), signal.SIGTERM)
                faults.calls.append(("shielded work finished", "", clock()))

    interrupts.install()
    try:
        with pytest.raises(Halt, match="SIGTERM"):
            _run(plan, clock, faults, [Ticker(1.0, signal_at_3)], interrupts)
    finally:
        interrupts.uninstall()
    assert [kind for kind, _, _ in faults.calls] == ["shielded work finished", "stopped"]
    assert faults.calls[-1][2] - T0 == pytest.approx(3.0, abs=0.21)
