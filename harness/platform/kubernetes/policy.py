"""The blast-radius policy (pure): which context, which namespace, how many pods, and never below a PDB.

Every refusal is a BlastRadiusError with the numbers behind it and the field that asked for too much.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from harness.errors import BlastRadiusError
from harness.platform.kubernetes.cluster import Budget, PodInfo


@dataclass(frozen=True)
class Limits:
    max_pods: int | None
    max_percent: Decimal | None


def check_context(context: str, permitted: Sequence[str]) -> None:
    if not permitted:
        raise BlastRadiusError(f"kubernetes context {context!r} is not allowed: the file lists no allowed_contexts and "
                               "names no context; add it to target.kubernetes.allowed_contexts if it is meant",
                               ("target", "kubernetes", "allowed_contexts"))
    if context not in permitted:
        raise BlastRadiusError(f"kubernetes context {context!r} is not in allowed_contexts ({', '.join(permitted)}): "
                               "refusing to act on it", ("target", "kubernetes", "allowed_contexts"))


def labels_text(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def aim(fault: str, labels: Mapping[str, str], namespace: str, candidates: Sequence[PodInfo], wanted: int | None,
        limits: Limits, seed: str) -> list[PodInfo]:
    """The ready pods a fault may act on: `wanted` of them (None: every one the selector matches)."""
    where = f"fault {fault}: selector {labels_text(labels)} in namespace {namespace}"
    if not candidates:
        raise BlastRadiusError(f"{where} matches no pod: refusing (nothing would be injected)", ("selector",))
    ready = [p for p in candidates if p.ready]
    if not ready:
        raise BlastRadiusError(f"{where}: none of its {len(candidates)} pods is ready: refusing", ("selector",))
    count = len(ready) if wanted is None else wanted
    if count > len(ready):
        raise BlastRadiusError(f"{where}: asks for {count} pods but only {len(ready)} of {len(candidates)} are ready",
                               ("count",))
    share = Decimal(count) * 100 / Decimal(len(ready))
    if limits.max_percent is not None and share > limits.max_percent:
        allowed = math.floor(Decimal(len(ready)) * limits.max_percent / 100)
        raise BlastRadiusError(f"{where}: {count} of {len(ready)} ready pods is {share:.0f}%, over the blast radius of "
                               f"{limits.max_percent}% (at most {allowed}); raise target.kubernetes.max_percent "
                               "if that is meant", ("count" if wanted is not None else "selector",))
    if limits.max_pods is not None and count > limits.max_pods:
        raise BlastRadiusError(f"{where}: {count} pods is over the blast radius of max_pods {limits.max_pods}",
                               ("count" if wanted is not None else "selector",))
    return sorted(random.Random(f"{seed}:{fault}").sample(ready, count), key=lambda p: p.name)


def check_budgets(fault: str, victims: Sequence[PodInfo], budgets: Sequence[Budget]) -> None:
    """Killing these pods must leave every PodDisruptionBudget that covers them at its desired healthy count."""
    for budget in budgets:
        covered = [p for p in victims if p.ready and all(p.labels.get(k) == v for k, v in budget.match_labels.items())]
        if not covered:
            continue
        left = budget.current_healthy - len(covered)
        if left < budget.desired_healthy:
            wanted = f"minAvailable {budget.min_available}" if budget.min_available is not None else "its budget"
            raise BlastRadiusError(
                f"fault {fault}: PodDisruptionBudget {budget.name} requires {wanted} ({budget.desired_healthy} "
                f"healthy); {budget.current_healthy} are healthy now and killing {len(covered)} would leave {left}: "
                "refusing", ("count",))
