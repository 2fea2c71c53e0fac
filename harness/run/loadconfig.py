"""From a load profile (the file format) to the load driver's config (its internal model)."""

from __future__ import annotations

from harness.load.config import LoadConfig, RequestSpec, Stage
from harness.plan import Plan
from harness.spec.loader import LoadedExperiment

TAIL_S = 5.0
"""Locust's shape runs a little past the plan: the harness stops it itself when the plan ends."""


def load_config(loaded: LoadedExperiment, plan: Plan, host: str) -> LoadConfig:
    profile = loaded.load.profile
    wait = profile.wait
    requests = tuple(
        RequestSpec(r.name, r.method, r.path, r.weight, r.json_body, dict(r.headers))
        for r in profile.requests or ()
    )
    return LoadConfig(
        host=host,
        stages=tuple(Stage(s.duration, s.users, s.spawn_rate) for s in profile.stages),
        run_s=plan.duration + TAIL_S,
        requests=requests,
        locustfile=loaded.load.locustfile,
        wait_min_s=wait.min,
        wait_max_s=wait.max,
        throughput_per_user=wait.throughput,
    )
