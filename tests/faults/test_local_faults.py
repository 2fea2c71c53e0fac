"""Every local fault driver against the real local platform (3 replicas, one stack for the module).

The victim-count table and the tests on a fake external platform are fast; the integration tests
start the supervisor, the shop replicas, the fault proxy, Caddy and Prometheus once for the module,
and leave every fault reverted and every process stopped.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import TypeAdapter

from harness.faults.base import FaultContext
from harness.faults.undo import apply_undo
from harness.plan import FaultSlot
from harness.platform.local.faultproxy import FaultProxyClient
from harness.platform.local.platform import LocalPlatform
from harness.procs import pid_alive, start_time
from harness.run.faultrunner import FaultRecord, FaultRunner
from harness.run.journal import Journal, pending
from harness.spec.faults import FAULT_TYPES, FaultBase, PodKill, fault_union
from tests.faults import FakePlatform, live_group_members, make_runner, process_state

RESTART_DELAY_S = 1.0
FAULTS: TypeAdapter[FaultBase] = TypeAdapter(fault_union(FAULT_TYPES))


def _fault(**fields: Any) -> FaultBase:
    return FAULTS.validate_python(fields)


@pytest.mark.parametrize(
    ("amount", "available", "victims"),
    [
        pytest.param({"count": 1}, 3, 1, id="count_1"),
        pytest.param({}, 3, 1, id="default_one"),
        pytest.param({"count": 5}, 3, 3, id="count_capped_at_available"),
        pytest.param({"count": "34%"}, 3, 2, id="count_34pct_of_3_rounds_up"),
        pytest.param({"percent": "50%"}, 3, 2, id="percent_50_of_3_rounds_up"),
        pytest.param({"percent": "33%"}, 3, 1, id="percent_33_of_3"),
        pytest.param({"percent": "1%"}, 3, 1, id="percent_at_least_one"),
        pytest.param({"percent": "100%"}, 3, 3, id="percent_all"),
        pytest.param({"count": "50%"}, 4, 2, id="half_of_4_exact"),
    ],
)
def test_pod_kill_victims(amount: dict[str, Any], available: int, victims: int) -> None:
    fault = _fault(name="kill", type="pod-kill", **amount)
    assert isinstance(fault, PodKill)
    assert fault.victims(available) == victims


def _external_runner(tmp_path: Path) -> FaultRunner:
    return make_runner(tmp_path, tmp_path / "experiment.yaml", FakePlatform())


def test_proxy_fault_on_a_platform_without_proxy_is_an_error(tmp_path: Path) -> None:
    record = _inject(_external_runner(tmp_path), name="slow", type="latency", delay="1s", duration="5s")
    assert record.error == "fault 'slow': this platform has no fault proxy"
    assert record.started is None
    assert pending(tmp_path) == []


def test_pod_kill_without_replicas_is_aimed_at_nothing(tmp_path: Path) -> None:
    runner = _external_runner(tmp_path)
    record = _inject(runner, name="kill", type="pod-kill", percent="50%")
    runner.verify_all()
    assert (record.targets, record.error) == ((), None)
    assert record.check is not None and record.check.took_effect is False


def test_cpu_stress_without_stress_ng_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    record = _inject(_external_runner(tmp_path), name="burn", type="cpu-stress", duration="1s")
    assert record.error == "injection failed: cpu-stress needs stress-ng (apt-get install stress-ng)"
    assert record.undo is None


# --- the shared stack -------------------------------------------------------------------------------------

def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds until condition() held; AssertionError naming `what` after timeout_s."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    running = LocalPlatform(tmp_path_factory.mktemp("local-faults"), 3, RESTART_DELAY_S, ())
    running.start()
    stack_pids = list(running._stack.component_pids().values())
    try:
        yield running
    finally:
        replica_pids = [r.pid for r in running.replicas()]
        running.close()
        left = [pid for pid in stack_pids + replica_pids if pid_alive(pid)]
        assert left == [], f"processes left behind: {left}"


@pytest.fixture
def runner(platform: LocalPlatform, tmp_path: Path) -> Iterator[FaultRunner]:
    """A FaultRunner on the shared platform; every fault is reverted after the test, successfully."""

    def context(slot: FaultSlot) -> FaultContext:
        return FaultContext(platform, tmp_path, tmp_path / "experiment.yaml", slot.index, "local-faults")

    faults = FaultRunner(Journal(tmp_path), context, time.time)
    yield faults
    faults.revert_all()
    stress_groups = [int(r.details["pid"]) for r in faults.records.values() if "pid" in r.details]
    assert [pid for pid in stress_groups if live_group_members(pid)] == [], "stress-ng left running"
    assert [r.name for r in faults.records.values() if r.active or r.reverted is False] == []
    assert pending(tmp_path) == []
    assert FaultProxyClient(str(platform.fault_proxy_url())).active() == {}
    _wait_all_ready(platform)


def _inject(runner: FaultRunner, **fields: Any) -> FaultRecord:
    fault = _fault(**fields)
    return runner.inject(FaultSlot(len(runner.records), fault, 0.0, fault.length))


def _wait_all_ready(platform: LocalPlatform) -> None:
    _wait_for(lambda: all(r.ready for r in platform.replicas()), 10.0, "all replicas ready")


def _edge_healthy(platform: LocalPlatform, session: requests.Session) -> None:
    """Until the edge answers 200 ten times in a row (health checks may still be re-admitting a replica)."""
    streak = [0]

    def answered() -> bool:
        ok = session.get(f"{platform.load_host}/api/items/1", timeout=2).status_code == 200
        streak[0] = streak[0] + 1 if ok else 0
        return streak[0] >= 10

    _wait_for(answered, 10.0, "ten answers in a row from the edge")


def _median_latency(session: requests.Session, url: str, count: int) -> float:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        assert session.get(url, timeout=5).status_code == 200
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# --- pod-kill ---------------------------------------------------------------------------------------------

@pytest.mark.integration
def test_pod_kill_kills_its_share_of_replicas_which_restart_with_new_pids(
    platform: LocalPlatform, runner: FaultRunner
) -> None:
    _wait_all_ready(platform)
    before = {r.index: r.pid for r in platform.replicas()}
    record = _inject(runner, name="kill-some", type="pod-kill", count="34%", selector={"app": "shop"})
    killed_at = time.monotonic()
    killed = {int(k["index"]): int(k["pid"]) for k in record.details["killed"]}
    assert len(killed) == 2
    assert all(before[index] == pid for index, pid in killed.items())
    assert sorted(record.targets) == sorted(f"shop-{index}" for index in killed)
    assert record.reverted is None and not record.active  # a kill is instant: nothing to revert
    _wait_for(lambda: not any(pid_alive(pid) for pid in killed.values()), 2.0, "the victims died")
    [spared] = set(before) - set(killed)
    assert pid_alive(before[spared])
    assert record.prepared is not None and record.prepared.verify is not None
    early = record.prepared.verify(record.details)
    assert early.observed == "2 replica(s) killed, 0 restarted with a new PID"

    def restarted() -> bool:
        now = {r.index: r for r in platform.replicas()}
        return all(now[i].pid != pid and now[i].ready for i, pid in killed.items())

    _wait_for(restarted, 10.0, "the killed replicas back with new PIDs")
    assert time.monotonic() - killed_at >= RESTART_DELAY_S
    assert {r.index: r.pid for r in platform.replicas()}[spared] == before[spared]
    runner.verify_all()
    assert record.check is not None
    assert (record.check.took_effect, record.check.observed) == (
        True, "2 replica(s) killed, 2 restarted with a new PID")


@pytest.mark.integration
def test_pod_kill_spares_replicas_outside_its_selector(platform: LocalPlatform, runner: FaultRunner) -> None:
    _wait_all_ready(platform)
    before = {r.index: r.pid for r in platform.replicas()}
    record = _inject(runner, name="kill-two", type="pod-kill", count=2, selector={"replica": "2"})
    assert record.targets == ("shop-2",)
    assert [k["pid"] for k in record.details["killed"]] == [before[2]]
    _wait_for(lambda: not pid_alive(before[2]), 2.0, "replica 2 died")
    assert pid_alive(before[0]) and pid_alive(before[1])


@pytest.mark.integration
def test_a_selector_matching_nothing_is_aimed_at_nothing(
    platform: LocalPlatform, runner: FaultRunner
) -> None:
    before = [r.pid for r in platform.replicas()]
    kill = _inject(runner, name="kill-none", type="pod-kill", selector={"app": "checkout"})
    latency = _inject(runner, name="slow-none", type="latency", delay="100ms", duration="5s",
                      selector={"app": "checkout"})
    assert (kill.targets, kill.details["killed"]) == ((), [])
    assert latency.targets == ()
    assert FaultProxyClient(str(platform.fault_proxy_url())).active() == {}
    runner.verify_all()
    for record in (kill, latency):
        assert record.check is not None
        assert (record.check.took_effect, record.check.observed) == (
            False, "aimed at nothing: no target matched the selector")
    assert [r.pid for r in platform.replicas()] == before


# --- process-pause ----------------------------------------------------------------------------------------

@pytest.mark.integration
def test_process_pause_stops_replicas_until_reverted(platform: LocalPlatform, runner: FaultRunner) -> None:
    _wait_all_ready(platform)
    pids = {f"shop-{r.index}": r.pid for r in platform.replicas()}
    record = _inject(runner, name="freeze", type="process-pause", duration="10s", count=2,
                     selector={"app": "shop"})
    paused = [pids[name] for name in record.targets]
    assert len(paused) == 2
    assert [process_state(pid) for pid in paused] == ["T", "T"]
    [running] = set(pids.values()) - set(paused)
    assert process_state(running) in "SR"
    runner.verify_all()
    assert record.check is not None
    assert (record.check.took_effect, record.check.observed) == (True, "2 of 2 process(es) were stopped")
    runner.revert("freeze")
    assert record.reverted is True
    _wait_for(lambda: all(process_state(pid) in "SR" for pid in paused), 2.0, "paused replicas running again")
    assert record.undo is not None
    for _ in range(2):  # replayed by `harness rollback` after a revert that already ran: harmless
        assert apply_undo(record.undo) == f"resumed PIDs {paused}"
    assert [process_state(pid) in "SR" for pid in paused] == [True, True]
    assert sorted(r.pid for r in platform.replicas()) == sorted(pids.values())  # paused, never restarted


# --- the fault proxy: latency, http-error, blackhole ------------------------------------------------------

@pytest.mark.integration
def test_latency_adds_its_delay_at_the_edge(platform: LocalPlatform, runner: FaultRunner) -> None:
    session = requests.Session()
    _edge_healthy(platform, session)
    url = f"{platform.load_host}/api/items/1"
    baseline = _median_latency(session, url, 15)
    record = _inject(runner, name="slow", type="latency", delay="200ms", duration="30s",
                     selector={"app": "shop"})
    assert record.targets == ("shop-0", "shop-1", "shop-2")
    added = _median_latency(session, url, 9) - baseline
    assert 0.16 <= added <= 0.24, f"added {added * 1000:.0f} ms to a baseline of {baseline * 1000:.1f} ms"
    runner.verify_all()
    assert record.check is not None and record.check.took_effect is True, record.check
    assert "delayed by 20" in record.check.observed
    runner.revert("slow")
    assert _median_latency(session, url, 5) < baseline + 0.05


@pytest.mark.integration
def test_http_error_answers_its_share_of_requests(platform: LocalPlatform, runner: FaultRunner) -> None:
    session = requests.Session()
    _edge_healthy(platform, session)
    record = _inject(runner, name="flaky", type="http-error", rate="50%", status=503, duration="30s",
                     selector={"app": "shop"})
    statuses = [session.get(f"{platform.load_host}/api/items/1", timeout=5).status_code for _ in range(300)]
    assert set(statuses) <= {200, 503}
    share = statuses.count(503) / len(statuses)
    assert 0.40 <= share <= 0.60, share
    runner.verify_all()
    assert record.check is not None and record.check.took_effect is True, record.check
    assert "answered 503" in record.check.observed
    runner.revert("flaky")
    after = [session.get(f"{platform.load_host}/api/items/1", timeout=5).status_code for _ in range(20)]
    assert after == [200] * 20


@pytest.mark.integration
def test_blackhole_holds_requests_to_its_replica_until_reverted(
    platform: LocalPlatform, runner: FaultRunner
) -> None:
    ports = platform._stack.ports  # the proxy's listener ports are known only to the stack
    assert ports is not None
    listener = {i: f"http://127.0.0.1:{port}/api/items/1" for i, port in enumerate(ports.listeners)}
    record = _inject(runner, name="void", type="blackhole", duration="20s", selector={"replica": "1"})
    assert record.targets == ("shop-1",)
    proxy = FaultProxyClient(str(platform.fault_proxy_url()))
    assert list(proxy.active()) == ["void"]
    assert requests.get(listener[0], timeout=2).status_code == 200  # the others still answer
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.get(listener[1], timeout=1.0)
    assert time.monotonic() - started >= 1.0
    runner.verify_all()
    assert record.check is not None and record.check.took_effect is True, record.check
    runner.revert("void")
    assert proxy.active() == {}
    assert requests.get(listener[1], timeout=2).status_code == 200


# --- cpu-stress -------------------------------------------------------------------------------------------

_STRESS = {"name": "burn", "type": "cpu-stress", "workers": 1, "load": "50%", "duration": "2s"}


def _is_stress_ng(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"stress-ng")
    except OSError:
        return False


@pytest.mark.integration
def test_cpu_stress_runs_and_is_stopped_by_revert(platform: LocalPlatform, runner: FaultRunner) -> None:
    record = _inject(runner, **_STRESS)
    pid = int(record.details["pid"])
    assert record.details["running"] is True
    # the start time ties the recipe to this process, not to a later one that gets the same PID
    assert record.undo == {"kind": "kill-group", "pids": [pid], "start_times": [start_time(pid)]}
    assert _is_stress_ng(pid)
    assert pid in live_group_members(pid)
    runner.verify_all()
    assert record.check is not None
    assert record.check.took_effect is True
    assert record.check.observed == "stress-ng with 1 worker(s) at 50% ran"
    runner.revert("burn")
    assert record.reverted is True
    _wait_for(lambda: not live_group_members(pid), 1.0, "stress-ng's process group gone after revert")


@pytest.mark.integration
def test_cpu_stress_stops_by_itself_when_never_reverted(platform: LocalPlatform, runner: FaultRunner) -> None:
    record = _inject(runner, **_STRESS)
    pid = int(record.details["pid"])
    time.sleep(1.0)
    assert live_group_members(pid), "stress-ng ended before its duration"
    took = _wait_for(lambda: not live_group_members(pid), 5.0, "stress-ng ending by its own timeout")
    assert 1.0 + took <= 4.5  # its --timeout is the duration + 1 s, plus start-up slack
    runner.revert("burn")  # the recipe on a group that already ended: harmless
    assert (record.reverted, record.revert_error) == (True, None)
