"""Chaos Mesh as the simulator plays it: its custom objects, and a stand-in for its daemons.

A NetworkChaos (delay, partition, 100 % loss) or HTTPChaos (replace code, delay, abort) becomes a rule
in the selected replicas' fault proxy; it is recovered when `duration` has passed or the object is
deleted, and its status carries the conditions Chaos Mesh reports (`AllInjected`, `AllRecovered`).
StressChaos objects are stored, but nothing burns CPU: their status says so (`AllInjected` False).
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.k8s.cluster import Cluster, Pod

GROUP, VERSION = "chaos-mesh.org", "v1alpha1"
KINDS = {"networkchaos": "NetworkChaos", "httpchaos": "HTTPChaos", "stresschaos": "StressChaos",
         "podchaos": "PodChaos"}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(text: str | None) -> float | None:
    found = _DURATION.match(str(text or "").strip())
    return float(found.group(1)) * _UNIT[found.group(2)] if found else None


@dataclass
class Active:
    """One chaos object in effect: the proxy rule names per workload, and when it recovers."""

    rules: list[tuple[Any, str]] = field(default_factory=list)
    until: float | None = None


class ChaosDaemon:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.installed = True
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.active: dict[tuple[str, str, str], Active] = {}
        self.created: list[str] = []

    def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        from tests.k8s.cluster import ApiError, stamp

        name = str(body.get("metadata", {}).get("name", ""))
        key = (plural, namespace, name)
        with self.cluster.lock:
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", f'{plural}.{GROUP} "{name}" already exists')
            obj = {**body, "apiVersion": f"{GROUP}/{VERSION}", "kind": KINDS[plural]}
            obj["metadata"] = {**body.get("metadata", {}), "namespace": namespace, "uid": str(uuid.uuid4()),
                               "creationTimestamp": stamp(self.cluster.clock()), "resourceVersion": "1"}
            obj["status"] = {"conditions": _conditions(selected=False, injected=False, recovered=False)}
            self.objects[key] = obj
            self.created.append(name)
            self._inject(key, obj)
            return obj

    def delete(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        from tests.k8s.cluster import ApiError

        key = (plural, namespace, name)
        with self.cluster.lock:
            obj = self.objects.pop(key, None)
            if obj is None:
                raise ApiError(404, "NotFound", f'{plural}.{GROUP} "{name}" not found')
            self._recover(key)
        return {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": name}}

    def reconcile(self, now: float) -> None:
        with self.cluster.lock:
            for key, active in list(self.active.items()):
                if active.until is not None and now >= active.until:
                    self._recover(key)

    def _inject(self, key: tuple[str, str, str], obj: dict[str, Any]) -> None:
        plural, namespace, name = key
        spec = obj.get("spec", {})
        pods = self._selected(namespace, spec)
        rule = _proxy_rule(plural, spec)
        if rule is None or not pods:
            why = "no pod matched the selector" if not pods else f"{KINDS[plural]} is not simulated here"
            obj["status"] = {"conditions": _conditions(selected=bool(pods), injected=False, recovered=False),
                             "experiment": {"desiredPhase": "Run", "containerRecords": []}, "message": why}
            return
        active = Active()
        by_workload: dict[int, list[Pod]] = defaultdict(list)
        for pod in pods:
            by_workload[id(pod.workload)].append(pod)
        for group in by_workload.values():
            rule_name = f"{namespace}.{name}"[:64]
            group[0].workload.replicas.apply_fault(rule_name, {**rule, "targets": sorted(p.index for p in group)})
            active.rules.append((group[0].workload.replicas, rule_name))
        length = seconds(spec.get("duration"))
        active.until = self.cluster.clock() + length if length is not None else None
        self.active[key] = active
        obj["status"] = {"conditions": _conditions(selected=True, injected=True, recovered=False),
                         "experiment": {"desiredPhase": "Run", "containerRecords": [
                             {"id": f"{namespace}/{p.name}", "phase": "Injected", "selectorKey": "."} for p in pods]}}

    def _recover(self, key: tuple[str, str, str]) -> None:
        active = self.active.pop(key, None)
        if active is None:
            return
        for replicas, rule_name in active.rules:
            replicas.remove_fault(rule_name)
        obj = self.objects.get(key)
        if obj is not None:
            obj["status"] = {"conditions": _conditions(selected=True, injected=False, recovered=True),
                             "experiment": {"desiredPhase": "Stop", "containerRecords": []}}

    def _selected(self, namespace: str, spec: dict[str, Any]) -> list[Pod]:
        chosen = spec.get("selector", {})
        namespaces = chosen.get("namespaces") or [namespace]
        labels = ",".join(f"{k}={v}" for k, v in (chosen.get("labelSelectors") or {}).items())
        pods = [p for ns in namespaces for p in self.cluster.pods_in(ns, labels)]
        mode, value = spec.get("mode", "all"), spec.get("value")
        if mode == "one":
            return pods[:1]
        if mode == "fixed":
            return pods[: int(value or 1)]
        if mode == "fixed-percent":
            return pods[: max(1, len(pods) * int(value or 100) // 100)]
        return pods


def _proxy_rule(plural: str, spec: dict[str, Any]) -> dict[str, Any] | None:
    if plural == "networkchaos":
        action = spec.get("action")
        if action == "delay":
            delay = spec.get("delay", {})
            return {"kind": "latency", "delay_s": seconds(delay.get("latency")) or 0.0,
                    "jitter_s": seconds(delay.get("jitter")) or 0.0}
        if action == "partition" or (action == "loss" and str(spec.get("loss", {}).get("loss")) == "100"):
            return {"kind": "blackhole", "hold_s": seconds(spec.get("duration")) or 60.0}
        return None
    if plural == "httpchaos":
        if "replace" in spec and "code" in spec["replace"]:
            return {"kind": "http-error", "rate": 1.0, "status": int(spec["replace"]["code"])}
        if "delay" in spec:
            return {"kind": "latency", "delay_s": seconds(spec["delay"]) or 0.0, "jitter_s": 0.0}
        if spec.get("abort"):
            return {"kind": "blackhole", "hold_s": seconds(spec.get("duration")) or 60.0}
    return None


def _conditions(*, selected: bool, injected: bool, recovered: bool) -> list[dict[str, str]]:
    def cond(kind: str, value: bool) -> dict[str, str]:
        return {"type": kind, "status": "True" if value else "False"}

    return [cond("Selected", selected), cond("AllInjected", injected), cond("AllRecovered", recovered),
            cond("Paused", False)]
