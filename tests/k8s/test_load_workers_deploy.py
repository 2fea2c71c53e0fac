"""deploy/kubernetes/load-workers.yaml and shop-distributed.yaml: in-cluster load, checked without a cluster.

Each manifest is read into the `kubernetes` client's models (a key the model does not know is lost on the
round trip, so a typo fails); the worker's command is parsed by the harness's own CLI, and the numbers that
must agree across the files (workers, port, Service, ConfigMap paths) are compared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from harness.cli.main import _parser
from harness.spec.loader import load_experiment

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def documents() -> dict[str, dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all((DEPLOY / "load-workers.yaml").read_text()) if doc]
    return {doc["kind"]: doc for doc in docs}


@pytest.mark.parametrize("kind", ["Service", "Job", "Deployment"])
def test_each_manifest_is_a_valid_object_of_the_client_models(kind: str) -> None:
    doc = documents()[kind]
    model = client.ApiClient().deserialize(json.dumps(doc), f"V1{kind}", "application/json")
    assert client.ApiClient().sanitize_for_serialization(model) == doc  # type: ignore[no-untyped-call]


def test_the_workers_reach_the_run_the_experiment_waits_for() -> None:
    docs = documents()
    experiment = load_experiment(DEPLOY / "shop-distributed.yaml").experiment
    worker = docs["Deployment"]["spec"]
    assert experiment.load.remote_workers == worker["replicas"]
    assert experiment.load.workers == 0
    command = worker["template"]["spec"]["containers"][0]["command"]
    assert command[0] == "harness"
    args = _parser().parse_args(command[1:])
    assert args.command == "load-worker"
    service = docs["Service"]
    host, port = args.master.rsplit(":", 1)
    assert host == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    assert int(port) == service["spec"]["ports"][0]["port"]
    master = experiment.load.master_address
    assert master is not None and master[1] == service["spec"]["ports"][0]["targetPort"]
    job = docs["Job"]["spec"]["template"]
    assert service["spec"]["selector"].items() <= job["metadata"]["labels"].items()
    run = job["spec"]["containers"][0]["command"]
    assert run[:2] == ["harness", "run"] and run[2] == args.experiment.as_posix()
    assert args.experiment == Path("/experiments/shop-distributed.yaml")
    assert job["spec"]["serviceAccountName"] == "harness"
