"""From a load profile (the file format) to the load driver's config (its internal model)."""

from __future__ import annotations

from harness.load.config import LoadConfig, RequestSpec, Stage
from harness.plan import Plan
from harness.spec.loader import LoadedExperiment

TAIL_S = 5.0
"""Locust's shape runs a little past the plan: the harness stops it itself when the plan ends."""


def load_config(loaded: LoadedExperiment, plan: Plan, host: str) -> LoadConfig:
    profile = loaded.load.profile
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
        arrival_rate=arrival.rate if arrival is not None else None,
        max_in_flight=arrival.max_in_flight if arrival is not None else None,
        latency_thresholds_s=tuple(sorted({
            slo.sli.client.latency for slo in loaded.slos
            if slo.sli.client is not None and slo.sli.client.latency is not None
        })),
    )
