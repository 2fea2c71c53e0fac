"""pod-kill on Kubernetes: chaosk8s terminate_pods (or the Eviction API with `mode: evict`) on pods the
blast-radius policy chose; it took effect when every killed pod's UID is gone and replacements exist.

The harness picks the pods itself (count, or percent of the ready ones, rounded up) and hands exactly
those to terminate_pods as an anchored name pattern, so what the policy checked is what is killed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from harness.faults.base import FaultCheck, FaultContext, Prepared
from harness.faults.builtin.kubernetes import aimed, cluster_of
from harness.platform.kubernetes.connection import environment_error
from harness.platform.kubernetes.policy import check_budgets, labels_text
from harness.spec.faults import PodKill


def wanted_pods(fault: PodKill, ready: int) -> int:
    """The file's count as written (so too many is refused, not capped), or its share of the ready pods."""
    return fault.count if isinstance(fault.count, int) else fault.victims(ready)


def prepare_pod_kill_kubernetes(fault: PodKill, ctx: FaultContext) -> Prepared:
    platform = cluster_of(ctx)
    cluster = platform.cluster
    labels = platform.selector_for(fault.selector)
    ready = sum(p.ready for p in cluster.pods(labels))
    labels, victims = aimed(fault, ctx, wanted_pods(fault, ready))
    check_budgets(fault.name, victims, cluster.budgets())

    def apply() -> Mapping[str, Any]:
        before = [p.uid for p in cluster.pods(labels)]
        if fault.mode == "evict":
            for victim in victims:
                cluster.evict(victim.name)
        else:
            _terminate(fault, ctx, labels, [v.name for v in victims])
        return {"killed": [{"pod": v.name, "uid": v.uid} for v in victims], "uids_before": before,
                "mode": fault.mode}

    def verify(details: Mapping[str, Any]) -> FaultCheck:
        killed = details.get("killed", [])
        now = cluster.pods(labels)
        uids = {p.uid for p in now}
        survivors = [k["pod"] for k in killed if k["uid"] in uids]
        replacements = [p for p in now if p.uid not in set(details.get("uids_before", []))]
        took = bool(killed) and not survivors and len(replacements) >= len(killed)
        how = "evicted" if details.get("mode") == "evict" else "deleted"
        observed = (f"{len(killed)} pod(s) {how}, {len(replacements)} replaced with a new UID "
                    f"({sum(p.ready for p in replacements)} ready)" + (f"; still there: {survivors}" if survivors
                                                                          else ""))
        return FaultCheck(took, observed)

    return Prepared(tuple(v.name for v in victims), None, apply, verify)


def _terminate(fault: PodKill, ctx: FaultContext, labels: Mapping[str, str], names: list[str]) -> None:
    from chaosk8s.pod.actions import terminate_pods  # the kubernetes client is only needed on this platform

    connection = cluster_of(ctx).connection
    pattern = "^(" + "|".join(re.escape(n) for n in names) + ")$"
    grace = int(fault.grace_period) if fault.grace_period is not None else -1
    try:
        terminate_pods(label_selector=labels_text(labels), name_pattern=pattern, mode="fixed", qty=len(names),
                       grace_period=grace, ns=connection.namespace, secrets=connection.chaosk8s_secrets())
    except Exception as err:  # an API failure mid-kill: reported with the context, never a traceback
        raise environment_error(err, connection, "delete", f"pods {', '.join(names)}") from err
