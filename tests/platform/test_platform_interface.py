"""Every platform implements the one Platform interface; faults only run where the platform offers them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import FaultError
from harness.faults.base import FaultContext
from harness.faults.registry import prepare
from harness.platform.base import Platform, Readiness, ReplicaView
from harness.platform.external import ExternalPlatform
from harness.platform.local.platform import LocalPlatform
from harness.spec.faults import ProcessPause, faults_on
from tests.faults import FakePlatform

REPLICAS = (ReplicaView("shop-0", 0, 100, {"app": "shop", "zone": "a"}, True),
            ReplicaView("shop-1", 1, 101, {"app": "shop", "zone": "b"}, False))


def test_an_external_platform_has_nothing_of_its_own_to_act_on() -> None:
    platform: Platform = ExternalPlatform(prometheus_url="http://127.0.0.1:9090", load_host="http://edge")
    platform.start()
    assert (platform.name, platform.prometheus_url, platform.load_host) == ("external", "http://127.0.0.1:9090",
                                                                            "http://edge")
    assert platform.replicas() == () and platform.targets(None) == []
    assert platform.readiness() is None and platform.fault_proxy_url() is None
    assert platform.fault_types == {"chaostoolkit", "http", "process"}
    platform.close()


def test_the_local_platform_offers_its_own_fault_types(tmp_path: Path) -> None:
    platform: Platform = LocalPlatform(tmp_path, replicas=3, restart_delay_s=1.0, rule_files=())  # not started
    assert platform.name == "local"
    assert {"pod-kill", "latency", "process-pause", "process"} <= platform.fault_types


@pytest.mark.parametrize(("selector", "names"), [
    pytest.param(None, ["shop-0", "shop-1"], id="no-selector"),
    pytest.param({"zone": "b"}, ["shop-1"], id="one-label"),
    pytest.param({"app": "shop", "zone": "c"}, [], id="matches-nothing"),
])
def test_targets_are_the_replicas_a_selector_matches(selector: dict[str, str] | None, names: list[str]) -> None:
    assert [r.name for r in FakePlatform(REPLICAS).targets(selector)] == names


def test_readiness_counts_the_ready_replicas() -> None:
    assert FakePlatform(REPLICAS).readiness() == Readiness(ready=1, total=2)


def test_a_fault_the_platform_does_not_offer_is_refused_before_anything_happens(tmp_path: Path) -> None:
    platform = FakePlatform(REPLICAS, fault_types=frozenset({"process"}))
    fault = ProcessPause.model_validate({"type": "process-pause", "name": "pause", "duration": "5s"})
    with pytest.raises(FaultError, match="platform local cannot drive 'process-pause' faults"):
        prepare(fault, FaultContext(platform, tmp_path, tmp_path / "e.yaml", 0, "seed"))


@pytest.mark.parametrize(("platform", "types"), [
    ("local", {"pod-kill", "latency", "http-error", "blackhole", "process-pause", "cpu-stress", "chaostoolkit",
               "http", "process"}),
    ("kubernetes", {"pod-kill", "latency", "http-error", "blackhole", "cpu-stress", "chaostoolkit", "http",
                    "process"}),
    ("external", {"chaostoolkit", "http", "process"}),
])
def test_each_fault_model_names_the_platforms_it_runs_on(platform: str, types: set[str]) -> None:
    assert faults_on(platform) == types
