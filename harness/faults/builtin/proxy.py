"""latency, http-error and blackhole: rules in the local platform's fault proxy in front of chosen replicas.

Their effect is checked from the proxy's own counters: how many requests it delayed, failed or held.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from harness.errors import FaultError
from harness.faults import recipes
from harness.faults.base import FaultCheck, FaultContext, FaultType, Prepared
from harness.faults.builtin.chaos_mesh import prepare_chaos_mesh
from harness.platform.local.faultproxy import FaultProxyClient
from harness.spec.faults import Blackhole, HttpError, Latency


def _proxy_spec(fault: Latency | HttpError | Blackhole, targets: list[int]) -> dict[str, Any]:
    if isinstance(fault, Latency):
        return {"kind": "latency", "delay_s": fault.delay, "jitter_s": fault.jitter, "targets": targets}
    if isinstance(fault, HttpError):
        return {"kind": "http-error", "rate": float(fault.rate) / 100, "status": fault.status, "targets": targets}
    return {"kind": "blackhole", "targets": targets, "hold_s": fault.duration}


def prepare_proxy_fault(fault: Latency | HttpError | Blackhole, ctx: FaultContext) -> Prepared:
    url = ctx.platform.fault_proxy_url()
    if url is None:
        raise FaultError(f"fault {fault.name!r}: this platform has no fault proxy")
    aimed = list(ctx.platform.targets(fault.selector))
    targets = [r.index for r in aimed]
    name = f"{fault.name}"

    def apply() -> Mapping[str, Any]:
        before = proxy_counters(url)
        if targets:
            FaultProxyClient(url).put(name, _proxy_spec(fault, targets))
        return {"proxy_fault": name, "replicas": targets, "counters_before": before}

    def verify(details: Mapping[str, Any]) -> FaultCheck:
        return check_proxy_effect(fault, targets, details.get("counters_before", {}), proxy_counters(url))

    return Prepared(tuple(r.name for r in aimed), recipes.proxy_fault(url, name), apply, verify)


def proxy_counters(url: str) -> dict[str, float]:
    """The fault proxy's own counters, keyed `action/replica` and `delay/replica`."""
    try:
        text = requests.get(f"{url}/metrics", timeout=5).text
    except requests.RequestException:
        return {}
    counters: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "faultproxy_requests_total":
                counters[f"{sample.labels['action']}/{sample.labels['replica']}"] = sample.value
            elif sample.name == "faultproxy_added_delay_seconds_total":
                counters[f"delay/{sample.labels['replica']}"] = sample.value
    return counters


def check_proxy_effect(fault: Latency | HttpError | Blackhole, targets: Sequence[int],
                       before: Mapping[str, float], after: Mapping[str, float]) -> FaultCheck:
    def delta(key: str) -> float:
        return sum(after.get(f"{key}/{t}", 0.0) - before.get(f"{key}/{t}", 0.0) for t in targets)

    if not targets:
        return FaultCheck(False, "the selector matched no replica: the fault was aimed at nothing")
    if isinstance(fault, Latency):
        delayed = delta("latency")
        mean = delta("delay") / delayed if delayed else 0.0
        took = delayed > 0 and mean >= 0.8 * fault.delay
        return FaultCheck(took, f"{delayed:.0f} requests delayed by {mean * 1000:.0f} ms on average "
                                f"(configured {fault.delay * 1000:.0f} ms)")
    if isinstance(fault, HttpError):
        errors = delta("error")
        seen = errors + delta("none") + delta("latency")
        rate = errors / seen if seen else 0.0
        wanted = float(fault.rate) / 100
        took = errors > 0 and (seen < 200 or abs(rate - wanted) <= max(0.5 * wanted, 0.02))
        return FaultCheck(took, f"{errors:.0f} of {seen:.0f} requests answered {fault.status} "
                                f"({rate:.1%}, configured {wanted:.1%})")
    held = delta("blackhole")
    return FaultCheck(held > 0, f"{held:.0f} requests held without an answer")


# on kubernetes each is a Chaos Mesh resource (chaos_mesh.py)
LATENCY = FaultType("latency", Latency, {"local": prepare_proxy_fault, "kubernetes": prepare_chaos_mesh})
HTTP_ERROR = FaultType("http-error", HttpError, {"local": prepare_proxy_fault, "kubernetes": prepare_chaos_mesh})
BLACKHOLE = FaultType("blackhole", Blackhole, {"local": prepare_proxy_fault, "kubernetes": prepare_chaos_mesh})
