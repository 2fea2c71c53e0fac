"""What every fault driver on the kubernetes platform shares: the platform itself, and its aimed pods."""

from __future__ import annotations

from harness.errors import FaultError
from harness.faults.base import FaultContext
from harness.platform.kubernetes.cluster import PodInfo
from harness.platform.kubernetes.platform import KubernetesPlatform
from harness.platform.kubernetes.policy import aim
from harness.spec.faults import FaultBase


def cluster_of(ctx: FaultContext) -> KubernetesPlatform:
    if not isinstance(ctx.platform, KubernetesPlatform):
        raise FaultError(f"this driver needs the kubernetes platform, not {ctx.platform.name}")
    return ctx.platform


def aimed(fault: FaultBase, ctx: FaultContext, wanted: int | None) -> tuple[dict[str, str], list[PodInfo]]:
    """The fault's selector (or its workload's) and the ready pods the blast-radius policy lets it act on."""
    platform = cluster_of(ctx)
    platform.connection.chaosk8s_secrets()  # chaosk8s must reach the cluster the policy is checked on
    labels = platform.selector_for(fault.selector)
    pods = platform.cluster.pods(labels)
    return labels, aim(fault.name, labels, platform.target.namespace, pods, wanted, platform.limits, ctx.seed)
