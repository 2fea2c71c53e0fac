"""latency, http-error, blackhole and cpu-stress on Kubernetes, as Chaos Mesh resources.

| fault | resource | spec |
|---|---|---|
| latency | NetworkChaos | action delay, `delay.latency` / `jitter` |
| blackhole | NetworkChaos | action loss, 100 % |
| http-error | HTTPChaos | `replace.code` on every response of `http_port` |
| cpu-stress | StressChaos | `stressors.cpu` workers and load |

Each is created with the fault's `duration` on it, so Chaos Mesh itself ends it should the harness die.
chaosk8s.chaosmesh's own functions (add_latency, ...) cannot set a duration, so every resource goes
through chaosk8s' custom-object call (`chaosk8s.crd.actions.create_custom_object`) instead; it is
deleted through the custom-objects API, where a 404 means "already gone" (chaosk8s' delete raises on
it), on revert and by `harness rollback` from the journal's recipe. It took effect when the resource
reports `AllInjected`.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from typing import Any

from harness.errors import FaultError
from harness.faults.base import FaultCheck, FaultContext, Prepared
from harness.faults.builtin.kubernetes import aimed, cluster_of
from harness.platform.kubernetes.cluster import CHAOS_GROUP, CHAOS_VERSION, Cluster
from harness.platform.kubernetes.connection import connect, environment_error
from harness.spec.faults import Blackhole, CpuStress, HttpError, Latency

ChaosFault = Latency | HttpError | Blackhole | CpuStress
KINDS: dict[str, tuple[str, str]] = {"latency": ("networkchaos", "NetworkChaos"),
                                     "blackhole": ("networkchaos", "NetworkChaos"),
                                     "http-error": ("httpchaos", "HTTPChaos"),
                                     "cpu-stress": ("stresschaos", "StressChaos")}
INJECTED_WITHIN_S = 5.0
MANAGED_BY = {"app.kubernetes.io/managed-by": "harness"}


def resource_name(run_id: str, fault: str) -> str:
    """A DNS-1123 name unique to the run and the fault (the run id is hashed in: names stay short)."""
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    base = re.sub(r"[^a-z0-9-]+", "-", fault.lower()).strip("-")[:40] or "fault"
    return f"harness-{base}-{digest}"


def chaos_spec(fault: ChaosFault, namespace: str, labels: Mapping[str, str], http_port: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"mode": "all", "selector": {"namespaces": [namespace], "labelSelectors": dict(labels)},
                            "duration": f"{round(fault.duration * 1000)}ms"}
    if isinstance(fault, Latency):
        spec |= {"action": "delay", "direction": "to",
                 "delay": {"latency": f"{round(fault.delay * 1000)}ms", "jitter": f"{round(fault.jitter * 1000)}ms",
                           "correlation": "0"}}
    elif isinstance(fault, Blackhole):
        spec |= {"action": "loss", "direction": "to", "loss": {"loss": "100", "correlation": "0"}}
    elif isinstance(fault, HttpError):
        spec |= {"target": "Response", "port": http_port, "path": "*", "replace": {"code": fault.status}}
    else:
        spec |= {"stressors": {"cpu": {"workers": fault.workers, "load": int(fault.load)}}}
    return spec


def resource(fault: ChaosFault, name: str, run_id: str, namespace: str, labels: Mapping[str, str],
             http_port: int) -> dict[str, Any]:
    _, kind = KINDS[fault.type]
    run_label = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id)[:63].strip("-_.")
    return {"apiVersion": f"{CHAOS_GROUP}/{CHAOS_VERSION}", "kind": kind,
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {**MANAGED_BY, "harness/run": run_label, "harness/fault": name}},
            "spec": chaos_spec(fault, namespace, labels, http_port)}


def injected(obj: Mapping[str, Any] | None) -> bool:
    conditions = (obj or {}).get("status", {}).get("conditions") or []
    return any(c.get("type") == "AllInjected" and c.get("status") == "True" for c in conditions)


def prepare_chaos_mesh(fault: ChaosFault, ctx: FaultContext) -> Prepared:
    platform = cluster_of(ctx)
    cluster, connection = platform.cluster, platform.connection
    plural, kind = KINDS[fault.type]
    if plural not in cluster.chaos_kinds():
        raise environment_error(FaultError("not served"), connection, "create", f"{kind} ({plural}.{CHAOS_GROUP}: is "
                                "Chaos Mesh installed?)")
    labels, pods = aimed(fault, ctx, None)
    name = resource_name(ctx.seed, fault.name)
    if cluster.chaos_object(plural, name) is not None:
        raise FaultError(f"fault {fault.name}: a {kind} {name} already exists in {connection.namespace}: "
                         f"run `harness rollback` on the run that made it, or delete it")
    body = resource(fault, name, ctx.seed, connection.namespace, labels, platform.target.http_port)
    undo = {"kind": "chaos-mesh", "plural": plural, "name": name, **connection.recipe()}

    def apply() -> Mapping[str, Any]:
        from chaosk8s.crd.actions import create_custom_object  # chaosk8s: only needed on this platform

        try:
            create_custom_object(CHAOS_GROUP, CHAOS_VERSION, plural, connection.namespace, resource=body,
                                 secrets=connection.chaosk8s_secrets())
        except Exception as err:  # chaosk8s raises ActivityFailed for API answers, urllib3 errors otherwise
            raise environment_error(err, connection, "create", f"{kind} {name}") from err
        started = time.monotonic()
        while time.monotonic() - started < INJECTED_WITHIN_S:
            if injected(cluster.chaos_object(plural, name)):
                return {"resource": f"{kind}/{name}", "injected_after_s": round(time.monotonic() - started, 2)}
            time.sleep(0.2)
        return {"resource": f"{kind}/{name}", "injected_after_s": None}

    def verify(details: Mapping[str, Any]) -> FaultCheck:
        after = details.get("injected_after_s")
        if after is None:
            return FaultCheck(False, f"{details.get('resource')} did not report AllInjected within "
                                     f"{INJECTED_WITHIN_S:g}s on {len(pods)} pod(s)")
        return FaultCheck(True, f"{details.get('resource')} reported AllInjected on {len(pods)} pod(s) after "
                                f"{after:.1f}s")

    return Prepared(tuple(p.name for p in pods), undo, apply, verify)


def delete_resource(recipe: Mapping[str, Any]) -> str:
    """The undo of a Chaos Mesh fault, live or by `harness rollback`: delete the resource if it still exists."""
    connection = connect(recipe.get("context"), str(recipe["namespace"]), kubeconfig=recipe.get("kubeconfig"))
    plural, name = str(recipe["plural"]), str(recipe["name"])
    where = f"in {connection.namespace} (context {connection.context})"
    try:
        deleted = Cluster(connection).delete_chaos_object(plural, name)
    finally:
        connection.api.close()  # type: ignore[no-untyped-call]
    return f"deleted {plural} {name} {where}" if deleted else f"{plural} {name} {where} was already gone"
