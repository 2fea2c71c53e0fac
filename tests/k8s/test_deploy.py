"""deploy/kubernetes/, examples/kubernetes/ and .github/workflows/kind-gate.yml, checked without a cluster.

The workflow cannot run here (no Docker, no kind): it is linted with actionlint and its structure is
checked against the files it uses. Every manifest is read into the `kubernetes` client's models (a key
the model does not know is lost on the round trip, so a typo fails) and applied to the simulator, where
the harness then runs against it: the PDB allows one kill of three, refuses a second, and the Role grants
every call the harness made.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from harness.api import validate_file
from harness.errors import BlastRadiusError
from harness.faults.base import FaultContext
from harness.faults.registry import prepare
from harness.faults.undo import apply_undo
from harness.plan import build_plan
from harness.platform.base import Readiness
from harness.platform.kubernetes.platform import KubernetesPlatform
from harness.reports.plan_text import describe_plan
from harness.spec.loader import load_experiment
from tests.k8s.conftest import SimCluster
from tests.k8s.replicas import FakeReplicas
from tests.test_workflows import ACTIONLINT, require_actionlint

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
EXAMPLES = ROOT / "examples" / "kubernetes"
WORKFLOW = ROOT / ".github" / "workflows" / "kind-gate.yml"
MANIFESTS = ("namespace.yaml", "shop.yaml", "rbac.yaml")


def documents() -> list[dict[str, Any]]:
    return [doc for name in MANIFESTS for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc]


def as_model(doc: dict[str, Any]) -> Any:
    """The manifest as the client would read it from the API server."""
    return client.ApiClient().deserialize(json.dumps(doc), f"V1{doc['kind']}", "application/json")


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}-{d['metadata']['name']}")
def test_every_manifest_is_a_valid_object_of_the_client_models(doc: dict[str, Any]) -> None:
    model = as_model(doc)
    assert type(model).__name__ == f"V1{doc['kind']}"
    serialized = client.ApiClient().sanitize_for_serialization(model)  # type: ignore[no-untyped-call]
    assert serialized == doc  # nothing unknown, nothing misspelt


def test_the_shop_manifests_are_a_deployment_of_3_behind_a_service_with_a_pdb_and_scrape_annotations() -> None:
    kinds = {d["kind"]: d for d in documents()}
    deployment = kinds["Deployment"]
    assert deployment["spec"]["replicas"] == 3
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
    assert kinds["Service"]["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert kinds["PodDisruptionBudget"]["spec"]["minAvailable"] == 2


def _granted(rules: list[dict[str, Any]], verb: str, resource: str) -> bool:
    return any(resource in rule["resources"] and verb in rule["verbs"] for rule in rules)


def test_the_manifests_in_the_simulator_and_the_role_grants_every_call_the_harness_makes(
        sim_cluster: SimCluster, tmp_path: Path) -> None:
    cluster = sim_cluster.sim.cluster
    cluster.workloads.clear()
    cluster.pods.clear()
    for doc in documents():
        cluster.apply_manifest(doc, lambda n: FakeReplicas(n))
    loaded = load_experiment(EXAMPLES / "shop-pod-kill.yaml")
    target = loaded.experiment.target.kubernetes
    assert target is not None
    platform = KubernetesPlatform(target.model_copy(update={"allowed_contexts": ("kind-gate",), "context": None,
                                                            "max_percent": 100}), "http://127.0.0.1:9", None)
    platform.start()
    assert platform.readiness() == Readiness(3, 3)
    context = FaultContext(platform, tmp_path, loaded.path, 0, "seed")
    kill = loaded.experiment.faults[0]
    prepare(kill, context).apply()
    with pytest.raises(BlastRadiusError, match="PodDisruptionBudget shop requires minAvailable 2"):
        prepare(kill.model_copy(update={"count": 2}), context)
    latency = load_experiment(EXAMPLES / "shop-latency.yaml").experiment.faults[0]
    prepared = prepare(latency, context)
    prepared.apply()
    assert prepared.undo is not None
    apply_undo(prepared.undo)

    role = next(d for d in documents() if d["kind"] == "Role")
    used = set(sim_cluster.sim.authorized) - {("get", "chaos-mesh.org")}  # discovery: every user may
    used = {(verb, "networkchaos" if resource == "chaos-mesh.org" else resource) for verb, resource in used}
    missing = [(verb, resource) for verb, resource in sorted(used) if not _granted(role["rules"], verb, resource)]
    assert missing == []
    assert ("delete", "pods") in used and ("create", "networkchaos") in used


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_the_kubernetes_examples_validate(path: Path) -> None:
    assert validate_file(path).split()[0] in ("experiment", "load")


def _workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def test_the_workflow_deploys_the_manifests_and_gates_the_examples() -> None:
    steps = _workflow()["jobs"]["gate"]["steps"]
    scripts = "\n".join(str(step.get("run", "")) for step in steps)
    for name in (*MANIFESTS, "Dockerfile", "kind.yaml"):
        assert f"deploy/kubernetes/{name}" in scripts or f"deploy/kubernetes/{name}" in json.dumps(steps), name
        assert (DEPLOY / name).is_file()
    assert ".venv/bin/harness gate examples/kubernetes/" in scripts
    names = [step.get("name", step.get("uses")) for step in steps]
    assert names.index("Act as the harness ServiceAccount (only its Role's permissions)") < names.index("Run the gate")
    assert all(step.get("if") == "always()" for step in steps[names.index("Run the gate") + 1:])


def test_actionlint_finds_no_problem_in_the_kind_workflow(tmp_path: Path) -> None:
    require_actionlint()
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("steps.gate.outputs.code", "steps.gat.outputs.code"))
    done = subprocess.run([str(ACTIONLINT), str(WORKFLOW), str(broken)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert [line for line in done.stdout.splitlines() if line.startswith(str(WORKFLOW))] == []
    assert done.returncode == 1 and "gat" in done.stdout  # the linter does read the file


def test_the_plan_of_a_kubernetes_example_states_its_blast_radius() -> None:
    loaded = load_experiment(EXAMPLES / "shop-pod-kill.yaml")
    text = describe_plan(loaded, build_plan(loaded))
    assert ("kill-one-pod           pod-kill      +45s (instant)       on the pods of deployment/shop in namespace "
            "shop; count=1, grace_period=0s") in text
    assert ("blast radius: contexts kind-harness; namespace shop only; at most 34% of the ready pods a fault "
            "selects; never more pods than are ready; never below a PodDisruptionBudget's minAvailable") in text
