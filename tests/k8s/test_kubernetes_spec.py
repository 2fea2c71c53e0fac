"""What `validate` says about kubernetes files: bad input is exit 2 with the file and field, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import cli
from harness.errors import SpecError
from harness.spec.loader import load_experiment
from tests.k8s.conftest import SimCluster


def write(folder: Path, target: dict[str, Any], fault: dict[str, Any]) -> Path:
    (folder / "profile.yaml").write_text(yaml.safe_dump({
        "apiVersion": "harness/v1", "kind": "LoadProfile", "metadata": {"name": "p"}, "host": "http://127.0.0.1:1",
        "requests": [{"name": "r", "path": "/"}], "stages": [{"duration": "5s", "users": 1, "spawn_rate": 1}]}))
    doc = {"apiVersion": "harness/v1", "kind": "Experiment", "metadata": {"name": "k"}, "target": target,
           "slos": [{"name": "s", "objective": 99, "sli": {"ratio": {"bad": "a_total", "total": "b_total"}}}],
           "load": {"profile": "profile.yaml"}, "faults": [fault], "hypothesis": [{"slo": "s"}]}
    if target["platform"] != "local":
        doc["prometheus"] = {"url": "http://127.0.0.1:9"}
    path = folder / "k.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


KUBE = {"platform": "kubernetes", "kubernetes": {"namespace": "shop"}}
WITH_WORKLOAD = {"platform": "kubernetes", "kubernetes": {"namespace": "shop", "workload": "deployment/shop"}}


@pytest.mark.parametrize(("target", "fault", "message"), [
    (KUBE, {"name": "kill", "type": "pod-kill"},
     "faults[0].selector: on kubernetes a fault never aims at the whole namespace: give it a selector, or name "
     "the target workload in target.kubernetes.workload (deployment/NAME)"),
    (WITH_WORKLOAD, {"name": "err", "type": "http-error", "rate": "5%", "duration": "5s"},
     "faults[0].rate: a Chaos Mesh HTTPChaos answers every request of the pods it selects"),
    ({"platform": "local"}, {"name": "kill", "type": "pod-kill", "mode": "evict"},
     "faults[0].mode: mode: evict (the Eviction API) needs platform kubernetes"),
    ({"platform": "kubernetes", "kubernetes": {"workload": "pod/shop"}}, {"name": "kill", "type": "pod-kill"},
     "target.kubernetes.workload"),
], ids=["no_selector_no_workload", "http_error_rate_below_100", "evict_on_local", "workload_not_a_workload"])
def test_kubernetes_file_problems_name_the_field(tmp_path: Path, target: dict[str, Any], fault: dict[str, Any],
                                                 message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_experiment(write(tmp_path, target, fault))
    assert any(message in problem for problem in caught.value.problems), caught.value.problems


def test_a_kubernetes_file_with_a_workload_validates(tmp_path: Path) -> None:
    loaded = load_experiment(write(tmp_path, WITH_WORKLOAD, {"name": "slow", "type": "latency", "delay": "100ms",
                                                             "duration": "5s"}))
    assert loaded.experiment.target.kubernetes is not None
    assert loaded.experiment.target.kubernetes.permitted_contexts == ()


# -- `harness plan --cluster`: the policy against the live (simulated) cluster, read only ---------------------


def plan_cluster(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, str]:
    code = cli.main(["plan", str(path), "--cluster"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


ON_SIM = {"platform": "kubernetes", "kubernetes": {"namespace": "shop", "workload": "deployment/shop",
                                                   "allowed_contexts": ["kind-gate"], "max_percent": "50%"}}


def test_plan_cluster_shows_what_each_fault_may_act_on(sim_cluster: SimCluster, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = plan_cluster(capsys, write(tmp_path, ON_SIM, {"name": "kill", "type": "pod-kill", "count": 1}))
    assert code == 0
    assert "cluster: context kind-gate, namespace shop: every fault below is allowed now" in out
    assert "  kill: 1 pod(s) (which ones is drawn at the injection), e.g. shop-" in out
    assert sim_cluster.sim.cluster.deleted_pods == []  # read only
    assert all(method == "GET" for method, _ in sim_cluster.sim.requests)


def test_plan_cluster_refusals_are_exit_2_and_an_unreachable_cluster_exit_5(
        sim_cluster: SimCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, ON_SIM, {"name": "kill", "type": "pod-kill", "count": 2})
    code, _, err = plan_cluster(capsys, path)
    assert code == 2
    assert f"{path}: faults[0].count: fault kill: selector app=shop in namespace shop: 2 of 3 ready pods is 67%" in err
    sim_cluster.sim.go_away()
    code, _, err = plan_cluster(capsys, path)
    assert code == 5 and "context kind-gate, namespace shop" in err and "unreachable" in err


def test_cpu_stress_on_kubernetes_needs_no_stress_ng_on_this_machine(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no stress-ng here: the StressChaos burns in the pods
    burn = {"name": "burn", "type": "cpu-stress", "duration": "5s"}
    assert load_experiment(write(tmp_path, WITH_WORKLOAD, burn)).experiment.faults[0].type == "cpu-stress"
    with pytest.raises(SpecError, match="cpu-stress needs stress-ng"):
        load_experiment(write(tmp_path, {"platform": "local"}, burn))
