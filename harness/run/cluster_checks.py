"""Before anything is injected on a cluster: every fault aimed once (the blast-radius policy, the pods,
the Chaos Mesh CRDs), and the workload's readiness sampled while the run goes.

Preparing a fault only reads the cluster (its `apply` is what changes it), so this check changes nothing.
A refusal by the policy is the file's to fix (exit 2, naming the field); an unreachable API server,
missing CRDs or an RBAC denial are the environment's (PlatformError, exit 5).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from harness.errors import BlastRadiusError, HarnessError, SpecError
from harness.faults.base import FaultContext
from harness.faults.registry import prepare
from harness.plan import FaultSlot, Plan
from harness.platform.base import Platform
from harness.platform.factory import open_platform
from harness.platform.kubernetes.platform import KubernetesPlatform
from harness.spec.faults import CLUSTER_FAULTS
from harness.spec.loader import LoadedExperiment

log = logging.getLogger(__name__)

READINESS_EVERY_S = 0.5
T = TypeVar("T")


def _where(field: tuple[str | int, ...], index: int | None) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in field).lstrip(".")
    if (field and field[0] == "target") or index is None:
        return path
    return f"faults[{index}]" + (f".{path}" if path else "")


def refusing_by_policy(loaded: LoadedExperiment, call: Callable[[], T], index: int | None = None) -> T:
    """Run `call`; a blast-radius refusal becomes the file's error, naming the file and the field."""
    try:
        return call()
    except BlastRadiusError as err:
        raise SpecError([f"{loaded.path}: {_where(err.field, index)}: {err} (nothing was injected)"]) from None


def check_faults_before_start(loaded: LoadedExperiment, plan: Plan,
                              context: Callable[[FaultSlot], FaultContext]) -> None:
    if loaded.experiment.target.platform != "kubernetes":
        return
    for slot in plan.faults:
        if slot.fault.type in CLUSTER_FAULTS:
            refusing_by_policy(loaded, partial(_aim, slot, context), slot.index)
            log.info("fault %s: allowed by the blast-radius policy", slot.name)


def _aim(slot: FaultSlot, context: Callable[[FaultSlot], FaultContext]) -> None:
    prepare(slot.fault, context(slot))


def aim_on_cluster(loaded: LoadedExperiment, plan: Plan, scratch: Path) -> list[str]:
    """What `harness plan --cluster` shows: each cluster fault aimed against the live cluster now, read
    only (refusals raise as in a run: SpecError for the policy, PlatformError for the environment)."""
    platform = refusing_by_policy(loaded, lambda: open_platform(loaded, scratch))
    try:
        assert isinstance(platform, KubernetesPlatform)  # the caller checked the file's platform
        where = platform.connection
        lines = [f"cluster: context {where.context}, namespace {where.namespace}: every fault below is allowed now"]
        for slot in plan.faults:
            if slot.fault.type not in CLUSTER_FAULTS:
                continue
            context = FaultContext(platform, scratch, loaded.path, slot.index, f"plan-{loaded.name}")
            prepared = refusing_by_policy(loaded, partial(prepare, slot.fault, context), slot.index)
            drawn = " (which ones is drawn at the injection)" if slot.fault.type == "pod-kill" else ""
            lines.append(f"  {slot.name}: {len(prepared.targets)} pod(s){drawn}, e.g. {', '.join(prepared.targets)}")
        return lines
    finally:
        platform.close()


def samples_readiness(loaded: LoadedExperiment) -> bool:
    """Kubernetes has no `shop_replicas_ready` series: its workload's status is read during the run."""
    target = loaded.experiment.target
    return target.platform == "kubernetes" and target.kubernetes is not None and target.kubernetes.workload is not None


class ReadinessSampler:
    """Reads the workload's readiness every READINESS_EVERY_S on its own thread, so a slow API server
    never holds up the timeline (injections and reverts); `stop()` returns the (time, ready) samples."""

    def __init__(self, platform: Platform, clock: Callable[[], float]) -> None:
        self._platform = platform
        self._clock = clock
        self._stop = threading.Event()
        self._samples: list[tuple[float, int]] = []
        self._thread = threading.Thread(target=self._run, name="readiness-sampler", daemon=True)

    def start(self) -> ReadinessSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                readiness = self._platform.readiness()
            except HarnessError as err:  # a missed sample is a gap the expectation sees, not a failed run
                log.warning("readiness could not be read: %s", err)
                readiness = None
            if readiness is not None:
                self._samples.append((self._clock(), readiness.ready))
            self._stop.wait(READINESS_EVERY_S)

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)
        return list(self._samples)
