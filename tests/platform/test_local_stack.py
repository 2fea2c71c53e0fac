"""The local platform end to end (integration) and its pure config builders (fast)."""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.errors import PlatformError
from harness.platform.local import edge as edge_module
from harness.platform.local import stack as stack_module
from harness.platform.local.edge import EdgeConfig, build_config
from harness.platform.local.stack import LocalStack, pick_ports, read_replicas
from harness.procs import pid_alive
from harness.prom.server import ScrapeTarget
from harness.prom.server import build_config as prometheus_config

RESTART_DELAY_S = 1.0


def _query(prometheus_url: str, expr: str) -> float:
    """The single value of an instant query; 0 for an empty result (a series not born yet)."""
    answer = requests.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=5).json()
    result = answer["data"]["result"]
    assert len(result) <= 1, f"{expr} returned {len(result)} series"
    return float(result[0]["value"][1]) if result else 0.0


def _wait_for_scrape_after(prometheus_url: str, moment: float, timeout_s: float = 10.0) -> None:
    """Until every target has been scraped after `moment`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _query(prometheus_url, "min(timestamp(up))") > moment:
            return
        time.sleep(0.2)
    raise AssertionError(f"no scrape after {moment} within {timeout_s} s")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack(tmp_path_factory.mktemp("run"), replicas=3, restart_delay_s=RESTART_DELAY_S)
    with local:
        yield local


@pytest.mark.integration
def test_prometheus_counts_match_the_requests_sent(stack: LocalStack) -> None:
    prom = stack.prometheus_url
    edge_total = 'sum(caddy_http_requests_total{job="edge",server="edge"})'
    edge_posts = 'sum(caddy_http_request_duration_seconds_count{job="edge",code="200",method="POST"})'
    shop_reads = 'sum(http_requests_total{job="shop",route="/api/catalog",code="200"})'
    per_replica = 'sum by (replica) (http_requests_total{job="shop",route=~"/api/.*"})'
    before = {expr: _query(prom, expr) for expr in (edge_total, edge_posts, shop_reads)}
    replicas_before = _by_replica(prom, per_replica)
    session = requests.Session()
    for i in range(200):
        if i % 4 == 3:
            response = session.post(f"{stack.edge_url}/api/checkout", json={"sku": i}, timeout=5)
        else:
            response = session.get(f"{stack.edge_url}/api/catalog", timeout=5)
        assert response.status_code == 200
    _wait_for_scrape_after(prom, time.time())
    assert _query(prom, edge_total) - before[edge_total] == 200
    assert _query(prom, edge_posts) - before[edge_posts] == 50
    assert _query(prom, shop_reads) - before[shop_reads] == 150
    served = {r: n - replicas_before.get(r, 0.0) for r, n in _by_replica(prom, per_replica).items()}
    assert sorted(served) == ["0", "1", "2"]
    assert sum(served.values()) == 200
    assert all(60 <= n <= 74 for n in served.values()), served  # round robin


def _by_replica(prometheus_url: str, expr: str) -> dict[str, float]:
    answer = requests.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=5).json()
    return {s["metric"]["replica"]: float(s["value"][1]) for s in answer["data"]["result"]}


@pytest.mark.integration
def test_killed_replica_is_restarted_after_the_delay(stack: LocalStack) -> None:
    victim = stack.replicas()[1]
    killed_at = time.time()
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = stack.replicas()[1]
        if now.pid != victim.pid and now.ready:
            break
        time.sleep(0.05)
    assert now.pid != victim.pid and now.ready
    assert now.restarts == 1
    assert now.started_at - killed_at >= RESTART_DELAY_S
    assert not pid_alive(victim.pid)
    state = json.loads(stack.state_file.read_text())
    assert state["replicas"][1]["restarts"] == 1
    assert [r.restarts for r in stack.replicas()] == [0, 1, 0]
    back_at_edge_s = _seconds_until_edge_serves(stack, "1", timeout_s=8.0)
    assert back_at_edge_s < 8.0  # the edge's passive health check keeps it out up to fail_duration (3 s)
    _wait_for_scrape_after(stack.prometheus_url, time.time())
    assert _query(stack.prometheus_url, 'shop_replica_restarts_total{replica="1"}') == 1
    assert _query(stack.prometheus_url, "shop_replicas_ready") == 3


def _seconds_until_edge_serves(stack: LocalStack, replica: str, timeout_s: float) -> float:
    started = time.monotonic()
    session = requests.Session()
    while time.monotonic() - started < timeout_s:
        if session.get(f"{stack.edge_url}/api/catalog", timeout=5).headers.get("X-Replica") == replica:
            return time.monotonic() - started
        time.sleep(0.02)
    return timeout_s


@pytest.mark.integration
def test_latency_fault_adds_its_delay_at_the_edge(stack: LocalStack) -> None:
    session = requests.Session()

    def median_latency() -> float:
        samples = []
        for _ in range(9):
            started = time.perf_counter()
            assert session.get(f"{stack.edge_url}/api/catalog", timeout=5).status_code == 200
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    baseline = median_latency()
    stack.fault_proxy.put("slow", {"kind": "latency", "delay_s": 0.2, "targets": [0, 1, 2]})
    try:
        delayed = median_latency()
    finally:
        stack.fault_proxy.delete("slow")
    assert 0.17 <= delayed - baseline <= 0.3
    assert stack.fault_proxy.active() == {}


@pytest.mark.integration
def test_stop_leaves_no_process_behind(stack: LocalStack) -> None:
    pids = stack.component_pids()
    assert sorted(pids) == ["caddy", "faultproxy", "prometheus", "supervisor"]
    replica_pids = [r.pid for r in stack.replicas()]
    edge_port = int(stack.edge_url.rsplit(":", 1)[1])
    stack.stop()
    assert [pid for pid in [*pids.values(), *replica_pids] if pid_alive(pid)] == []
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", edge_port), timeout=1):
        pass
    stack.stop()  # idempotent


@pytest.mark.integration
def test_failed_component_stops_the_others_and_names_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(edge_module, "CADDY", "/bin/false")
    local = LocalStack(tmp_path, replicas=1)
    with pytest.raises(PlatformError, match=r"caddy did not listen on 127\.0\.0\.1:\d+; .*caddy\.log"):
        local.start(timeout_s=20)
    pids = local.component_pids()
    assert {"supervisor", "faultproxy", "prometheus"} <= set(pids)
    assert [name for name, pid in pids.items() if pid_alive(pid)] == []
    assert local.ports is not None
    assert _shop_processes_on(local.ports.replicas) == []


@pytest.mark.integration
@pytest.mark.parametrize("taken", ["replica", "control"])
def test_a_port_taken_before_it_is_bound_starts_the_stack_again_on_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken: str
) -> None:
    picks: list[stack_module.StackPorts] = []
    squatter = socket.socket()

    def pick_then_take_one(replicas: int) -> stack_module.StackPorts:
        ports = pick_ports(replicas)
        if not picks:  # another process listens there between the pick and the bind
            squatter.bind(("127.0.0.1", ports.replicas[0] if taken == "replica" else ports.control))
            squatter.listen()
        picks.append(ports)
        return ports

    monkeypatch.setattr(stack_module, "pick_ports", pick_then_take_one)
    with squatter, LocalStack(tmp_path, replicas=1) as local:
        assert len(picks) == 2
        assert local.ports == picks[1]
        assert requests.get(f"{local.edge_url}/healthz", timeout=5).status_code == 200
        assert len(local.replicas()) == 1 and local.replicas()[0].port == picks[1].replicas[0]
    assert _shop_processes_on(picks[0].replicas + picks[1].replicas) == []


def _shop_processes_on(ports: tuple[int, ...]) -> list[int]:
    """PIDs of live shop replicas serving one of these ports (the supervisor may have died first)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        serves_one = any(str(p).encode() in argv for p in ports)
        if b"harness.platform.local.shop" in argv and serves_one and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_pick_ports_are_distinct() -> None:
    ports = pick_ports(3)
    flat = [*ports.replicas, *ports.listeners, ports.control, ports.supervisor_metrics, ports.edge]
    assert len(set([*flat, ports.edge_admin])) == 10


def test_read_replicas_marks_a_dead_replica_not_ready(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    replica = {"index": 0, "port": 1, "pid": 42, "labels": {"app": "shop", "replica": "0"}, "restarts": 2}
    state.write_text(
        json.dumps({"replicas": [{**replica, "started_at": 1.5, "ready": True, "alive": False}]})
    )
    (only,) = read_replicas(state)
    assert (only.pid, only.restarts, only.ready, only.labels["replica"]) == (42, 2, False, "0")
    with pytest.raises(PlatformError, match="cannot read the supervisor state"):
        read_replicas(tmp_path / "missing.json")


def test_edge_config_keeps_injected_errors_from_ejecting_upstreams() -> None:
    config = build_config(EdgeConfig(edge_port=1, admin_port=2, upstream_ports=(3, 4)))
    server = config["apps"]["http"]["servers"]["edge"]
    proxy = server["routes"][0]["handle"][0]
    assert server["metrics"] == {} and server["listen"] == ["127.0.0.1:1"]
    assert "unhealthy_status" not in proxy["health_checks"]["passive"]
    assert [u["dial"] for u in proxy["upstreams"]] == ["127.0.0.1:3", "127.0.0.1:4"]
    assert config["admin"]["listen"] == "127.0.0.1:2"


def test_prometheus_config_per_target_labels_and_paths() -> None:
    targets = [
        ScrapeTarget("shop", "127.0.0.1:1", labels={"replica": "0"}, honor_labels=True),
        ScrapeTarget("shop", "127.0.0.1:2", labels={"replica": "1"}, honor_labels=True),
        ScrapeTarget("edge", "127.0.0.1:3", metrics_path="/m"),
    ]
    config = prometheus_config(targets, 0.5, [Path("rules.yml")])
    assert config["global"] == {
        "scrape_interval": "500ms",
        "scrape_timeout": "500ms",
        "evaluation_interval": "500ms",
    }
    shop, edge = config["scrape_configs"]
    assert shop["honor_labels"] is True
    assert [c["labels"]["replica"] for c in shop["static_configs"]] == ["0", "1"]
    assert edge["static_configs"][0]["labels"]["__metrics_path__"] == "/m"
    assert config["rule_files"] == [str(Path("rules.yml").resolve())]
    with pytest.raises(ValueError, match="disagree on honor_labels"):
        prometheus_config([*targets, ScrapeTarget("shop", "127.0.0.1:9")], 1.0, [])
