"""From a load profile (the file format) to the load driver's config (its internal model)."""

from __future__ import annotations

import os

from harness.load.config import LoadConfig, RequestSpec, Stage
from harness.plan import Plan
from harness.spec.loader import LoadedExperiment
from harness.spec.models import LoadRef

TAIL_S = 5.0
"""Locust's shape runs a little past the plan: the harness stops it itself when the plan ends."""


def local_workers(ref: LoadRef) -> int:
    """Locust processes generating load here: `auto` is one per core; default 1, or 0 with remote workers."""
    if ref.workers == "auto":
        return max(1, os.cpu_count() or 1)
    if ref.workers is None:
        return 0 if ref.remote_workers else 1
    return ref.workers


def load_config(loaded: LoadedExperiment, plan: Plan, host: str) -> LoadConfig:
    profile = loaded.load.profile
    ref = loaded.experiment.load
    master_host, master_port = ref.master_address or ("127.0.0.1", 0)
    arrival = profile.arrival
    # The default think time is for the built-in user; a user locustfile keeps its own wait_time; an
    # open model has none.
    wants_wait = profile.requests is not None or "wait" in profile.model_fields_set
    wait = profile.wait if wants_wait and arrival is None else None
    requests = tuple(
        RequestSpec(r.name, r.method, r.path, r.weight, r.json_body, dict(r.headers))
        for r in profile.requests or ()
    )
    return LoadConfig(
        host=host,
        stages=tuple(Stage(s.duration, s.users, s.spawn_rate) for s in profile.stages or ()),
        run_s=plan.duration + TAIL_S,
        requests=requests,
        locustfile=loaded.load.locustfile,
        wait_min_s=wait.min if wait is not None else None,
        wait_max_s=wait.max if wait is not None else None,
        throughput_per_user=wait.throughput if wait is not None else None,
        timeout_s=profile.timeout,
        client=profile.client,
        arrival_rate=arrival.rate if arrival is not None else None,
        max_in_flight=arrival.max_in_flight if arrival is not None else None,
        workers=local_workers(ref),
        remote_workers=ref.remote_workers,
        master_host=master_host,
        master_port=master_port,
        workers_timeout_s=ref.workers_timeout,
        latency_thresholds_s=tuple(sorted({
            slo.sli.client.latency for slo in loaded.slos
            if slo.sli.client is not None and slo.sli.client.latency is not None
        })),
    )
