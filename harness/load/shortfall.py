"""Why the achieved load fell short of the requested one: the system (closed model) or the generator.

Pure. A closed-model user waits for each answer, so U users pacing at x requests/s each with a mean
response time R can send at most U / max(1/x, R) requests/s: when slow responses explain the
shortfall, the system slowed the load down ("system"); when they do not, the load generator could
not keep up ("generator"). In arrival mode (open model) arrivals dropped at max_in_flight are the
system's doing too: its slow answers filled the in-flight pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.load.record import LoadWindow

CLOSED_MODEL_EXPLAINS = 0.9
"""The closed-model bound explains the shortfall when the achieved rate reaches this share of it."""


@dataclass(frozen=True)
class Shortfall:
    kind: Literal["generator", "system"]
    reason: str


def explain_shortfall(
    achieved_rps: float,
    requested_rps: float | None,
    mean_response_s: float | None,
    mean_users: float | None,
    throughput_per_user: float | None,
    min_ratio: float,
    dropped: int = 0,
    workers_lost: tuple[str, ...] = (),
) -> Shortfall | None:
    """None when the requested rate is unknown or 0, or achieved >= min_ratio x requested.

    `achieved_rps` counts the requests sent; `dropped` is the number of arrivals in the window that
    were not sent because max_in_flight requests were in flight (arrival mode).
    """
    if requested_rps is None or requested_rps <= 0 or achieved_rps >= min_ratio * requested_rps:
        return None
    took = f"{mean_response_s:.3f} s" if mean_response_s is not None else "an unknown time"
    if workers_lost:
        return Shortfall("generator", (
            f"the load generator reached {achieved_rps:.1f} req/s of {requested_rps:.1f} requested because "
            f"{'; '.join(workers_lost)}: the load was short until its users ran on the other workers"
        ))
    if dropped > 0:
        return Shortfall("system", (
            f"load fell to {achieved_rps:.1f} req/s of {requested_rps:.1f} requested because {dropped} "
            f"arrivals found max_in_flight requests still unanswered (responses took {took} on average) "
            "and were not sent; they count as failed requests"
        ))
    if mean_users and throughput_per_user and mean_response_s is not None:
        bound = mean_users / max(1.0 / throughput_per_user, mean_response_s)
        if achieved_rps >= CLOSED_MODEL_EXPLAINS * bound:
            return Shortfall("system", (
                f"load fell to {achieved_rps:.1f} req/s of {requested_rps:.1f} requested because responses "
                f"took {mean_response_s:.2f} s on average (closed model: each user waits for its answer); "
                "the SLI is judged on the requests that were sent; an open model (arrival) keeps the rate"
            ))
    return Shortfall("generator", (
        f"the load generator reached {achieved_rps:.1f} req/s of {requested_rps:.1f} requested while "
        f"responses took {took} on average: the generator could not keep up (its CPU?); the evidence "
        "cannot show the system under the requested load"
    ))


def window_shortfall(window: LoadWindow, throughput_per_user: float | None, min_ratio: float) -> Shortfall | None:
    """`explain_shortfall` for a record window: dropped arrivals are left out of the achieved rate."""
    sent_rps = (window.requests - window.dropped) / (window.end - window.start)
    return explain_shortfall(sent_rps, window.requested_rps, window.mean_response_s, window.mean_users,
                             throughput_per_user, min_ratio, window.dropped)
