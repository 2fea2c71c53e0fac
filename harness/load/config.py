"""What load to drive: typed, frozen, pure (no Locust import, no I/O).

The same values travel to the Locust subprocess as a JSON "plan" file (`LoadConfig.to_plan`),
so the shape that Locust runs and the requested rate the harness reports come from one definition
(`read_plan_from_env`, used only on the Locust side, is the one function here that reads a file).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from harness.errors import SpecError

PLAN_ENV = "HARNESS_LOAD_PLAN"
Client = Literal["requests", "fasthttp"]
"""The built-in user's HTTP client: Locust's HttpUser (python-requests) or FastHttpUser (geventhttpclient)."""
CLIENTS: tuple[Client, ...] = get_args(Client)
MAX_LOCAL_WORKERS = 64
MAX_REMOTE_WORKERS = 1000
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class RequestSpec:
    """One request of the built-in user: `weight` is its Locust task weight; `json` is sent as the body."""

    name: str
    method: str
    path: str
    weight: int = 1
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """Hold `users` users for `duration_s`, reaching them at `spawn_rate` users per second."""

    duration_s: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class LoadConfig:
    """A load run. Offsets (`t_offset_s`) count from the start of the shape's clock.

    The shape repeats its last stage until `run_s`, then Locust stops by itself. When `locustfile` is
    set, its user classes replace `requests`; `wait_min_s`/`wait_max_s` (`between`) or
    `throughput_per_user` (`constant_throughput`), when given, are applied to every user class,
    including the user's own, so that the requested rate is known.

    Locust asks the shape for its tick about once a second (at offsets ~0, 1, 2 ... s), so stage
    boundaries and run_s on whole seconds take effect on time (within milliseconds), others at the
    next whole second; `users_at` assumes the former.
    """

    host: str
    stages: tuple[Stage, ...]
    run_s: float
    requests: tuple[RequestSpec, ...] = ()
    locustfile: Path | None = None
    wait_min_s: float | None = None
    wait_max_s: float | None = None
    throughput_per_user: float | None = None
    locustfile_throughput: float | None = None
    """The user locustfile's own constant_throughput (found by `check_locustfile`): not applied, only
    the requested rate."""
    client: Client = "requests"
    """The built-in user's HTTP client (`locust_requests`); a user locustfile picks its own."""
    timeout_s: float = 5.0
    """Per request: a request still unanswered then is a failure (built-in and user locustfiles)."""
    latency_thresholds_s: tuple[float, ...] = ()
    """Client SLI latency bounds: the recorder counts the requests that succeeded within each."""
    arrival_rate: float | None = None
    """Open model (instead of `stages`): requests started per second on a fixed schedule, each by an
    idle user instance, whatever earlier requests are doing."""
    max_in_flight: int | None = None
    """Open model: the most requests in flight at once; an arrival finding that many is not sent and is
    recorded as a failed request named DROPPED_REQUEST_NAME. Default `default_max_in_flight`."""
    workers: int = 1
    """Locust processes generating load on this machine: 1 runs a single process; more (or any remote
    worker) runs a master, which holds the shape, and that many local worker processes."""
    remote_workers: int = 0
    """Workers started elsewhere (`harness load-worker`) that the master waits for before the load starts."""
    master_host: str = "127.0.0.1"
    master_port: int = 0
    """Where the master listens for workers; 0: a free port (local workers only)."""
    workers_timeout_s: float = 60.0
    """How long the master waits for every worker to connect before giving up."""

    @property
    def distributed(self) -> bool:
        return self.workers > 1 or self.remote_workers > 0

    @property
    def expected_workers(self) -> int:
        return self.workers + self.remote_workers if self.distributed else 0

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise SpecError([f"load: {p}" for p in problems])

    @property
    def in_flight_cap(self) -> int:
        """Open model: max_in_flight, else `default_max_in_flight`; 0 for a closed model."""
        if self.arrival_rate is None:
            return 0
        return self.max_in_flight or default_max_in_flight(self.arrival_rate, self.timeout_s)

    def users_at(self, t_offset_s: float) -> int:
        """Users Locust runs at this offset, ramps included (0 outside the run).

        Models Locust's dispatcher: max(1, floor(spawn_rate)) users at once, then the next batch
        after batch / spawn_rate seconds; a ramp starts from the previous stage's users.
        """
        if t_offset_s < 0 or t_offset_s >= self.run_s or not self.stages:
            return 0  # an open model runs no Locust users: its arrivals borrow idle user instances
        begin, previous = 0.0, 0
        for stage in self.stages:
            if t_offset_s < begin + stage.duration_s or stage is self.stages[-1]:
                return _ramped(previous, stage, t_offset_s - begin)
            begin += stage.duration_s
            previous = stage.users
        raise AssertionError("unreachable: the last stage always answers")

    def requested_rps_at(self, t_offset_s: float) -> float | None:
        """Task runs per second asked for at this offset (users x throughput, or the arrival rate); None
        without pacing."""
        if self.arrival_rate is not None:
            return self.arrival_rate if 0 <= t_offset_s < self.run_s else 0.0
        pace = self.pace_per_user
        if pace is None:
            return None
        return self.users_at(t_offset_s) * pace

    @property
    def pace_per_user(self) -> float | None:
        """Task runs per second each user aims at: the plan's pacing, else the locustfile's own."""
        return self.throughput_per_user if self.throughput_per_user is not None else self.locustfile_throughput

    def mean_requested_rps(self, start_offset_s: float, end_offset_s: float) -> float | None:
        """Time-average of `requested_rps_at` over [start, end), in 10 ms steps (20000 at most)."""
        if self.arrival_rate is not None and end_offset_s > start_offset_s:
            inside = min(end_offset_s, self.run_s) - max(start_offset_s, 0.0)
            return self.arrival_rate * max(0.0, inside) / (end_offset_s - start_offset_s)
        pace = self.pace_per_user
        if pace is None or end_offset_s <= start_offset_s:
            return None
        steps = min(20_000, max(1, round((end_offset_s - start_offset_s) * 100)))
        width = (end_offset_s - start_offset_s) / steps
        total = sum(self.users_at(start_offset_s + (i + 0.5) * width) for i in range(steps))
        return total / steps * pace

    def to_plan(self, record_path: Path) -> dict[str, Any]:
        """The JSON plan the Locust side reads (`read_plan_from_env`, `stages_from_plan`)."""
        return {
            "stages": [[s.duration_s, s.users, s.spawn_rate] for s in self.stages],
            "run_s": self.run_s,
            "requests": [
                {
                    "name": r.name,
                    "method": r.method.upper(),
                    "path": r.path,
                    "weight": r.weight,
                    "json": r.json,
                    # values travel in the environment, never in the plan file: they may be secrets
                    "headers": {name: {"env": header_env_name(i, j)} for j, name in enumerate(r.headers)},
                }
                for i, r in enumerate(self.requests)
            ],
            "wait": _wait_plan(self),
            "client": self.client,
            "timeout_s": self.timeout_s,
            "latency_thresholds_s": list(self.latency_thresholds_s),
            "arrival": None if self.arrival_rate is None else {
                "rate": self.arrival_rate, "max_in_flight": self.in_flight_cap},
            "record_path": str(record_path),
        }


def default_max_in_flight(rate: float, timeout_s: float) -> int:
    """rate x timeout: as many requests as can be in flight when every one takes the whole timeout, so
    an arrival finds the pool full only when requests outlast their timeout (a slow body, a connect)."""
    return max(1, math.ceil(rate * timeout_s))


def header_env_name(request: int, header: int) -> str:
    return f"HARNESS_LOAD_HEADER_{request}_{header}"


def header_environment(config: LoadConfig) -> dict[str, str]:
    """The request headers' values, by the environment variable the plan names for each."""
    return {header_env_name(i, j): value for i, r in enumerate(config.requests)
            for j, value in enumerate(r.headers.values())}


def shape_tick(stages: tuple[Stage, ...], run_s: float, t_s: float) -> tuple[int, float] | None:
    """What the shape answers at run time t_s: (users, spawn_rate), or None once run_s is over.

    Without stages (an open model) Locust runs no users: the arrival dispatcher sends the requests."""
    if t_s >= run_s:
        return None
    if not stages:
        return 0, 1.0
    begin = 0.0
    for stage in stages:
        begin += stage.duration_s
        if t_s < begin:
            return stage.users, stage.spawn_rate
    return stages[-1].users, stages[-1].spawn_rate


def read_plan_from_env() -> dict[str, Any]:
    """The Locust side's one input: the JSON plan whose path is in PLAN_ENV."""
    path = os.environ.get(PLAN_ENV)
    if not path:
        raise RuntimeError(f"{PLAN_ENV} is not set: this locustfile runs only under the harness load driver")
    plan: dict[str, Any] = json.loads(Path(path).read_text())
    return plan


def stages_from_plan(plan: Mapping[str, Any]) -> tuple[Stage, ...]:
    return tuple(Stage(float(d), int(u), float(r)) for d, u, r in plan["stages"])


def _ramped(previous: int, stage: Stage, elapsed_s: float) -> int:
    batch = max(1, math.floor(stage.spawn_rate))
    step_s = batch / stage.spawn_rate
    moved = batch * (math.floor(elapsed_s / step_s) + 1)
    if stage.users >= previous:
        return min(stage.users, previous + moved)
    return max(stage.users, previous - moved)


def _wait_plan(config: LoadConfig) -> dict[str, float] | None:
    if config.throughput_per_user is not None:
        return {"throughput": config.throughput_per_user}
    if config.wait_min_s is not None and config.wait_max_s is not None:
        return {"min": config.wait_min_s, "max": config.wait_max_s}
    return None


def _problems(config: LoadConfig) -> list[str]:
    problems: list[str] = []
    if not config.host.startswith(("http://", "https://")):
        problems.append(f"host must start with http:// or https://, got {config.host!r}")
    if config.arrival_rate is None and not config.stages:
        problems.append("stages: at least one stage is needed (or an arrival_rate)")
    problems.extend(_arrival_problems(config))
    for i, stage in enumerate(config.stages):
        if not stage.duration_s > 0 or stage.users < 0 or not 0 < stage.spawn_rate < math.inf:
            problems.append(f"stages[{i}]: need duration_s > 0, users >= 0 and a finite spawn_rate > 0")
    if not 0 < config.run_s < math.inf:
        problems.append(f"run_s must be a positive number of seconds, got {config.run_s}")
    if config.locustfile is None and not config.requests:
        problems.append("give either requests or a locustfile")
    if config.client not in CLIENTS:
        problems.append(f"client must be one of {', '.join(CLIENTS)}, got {config.client!r}")
    elif config.locustfile is not None and config.client != "requests":
        problems.append("client applies to the built-in requests user only; a locustfile picks its own User classes")
    for i, req in enumerate(config.requests):
        valid = req.name and req.method.upper() in _METHODS and req.path.startswith("/") and req.weight >= 1
        if not valid:
            problems.append(
                f"requests[{i}]: need a name, an HTTP method, a path starting with / and weight >= 1"
            )
    problems.extend(_wait_problems(config))
    problems.extend(_worker_problems(config))
    if not 0 < config.timeout_s < math.inf:
        problems.append(f"timeout_s must be a positive number of seconds, got {config.timeout_s}")
    if any(not 0 < t < math.inf for t in config.latency_thresholds_s):
        problems.append(f"latency_thresholds_s must be positive seconds, got {config.latency_thresholds_s}")
    return problems


def _arrival_problems(config: LoadConfig) -> list[str]:
    if config.arrival_rate is None:
        return ["max_in_flight needs an arrival_rate"] if config.max_in_flight is not None else []
    problems = []
    if config.stages:
        problems.append("give stages (closed model) or an arrival_rate (open model), not both")
    if not 0 < config.arrival_rate < math.inf:
        problems.append(f"arrival_rate must be a positive number of requests/s, got {config.arrival_rate}")
    if config.max_in_flight is not None and config.max_in_flight < 1:
        problems.append(f"max_in_flight must be at least 1, got {config.max_in_flight}")
    if config.throughput_per_user is not None or config.wait_min_s is not None:
        problems.append("a wait has no meaning with an arrival_rate: each arrival sends one request on schedule")
    return problems


def _worker_problems(config: LoadConfig) -> list[str]:
    problems = []
    if not (0 if config.remote_workers else 1) <= config.workers <= MAX_LOCAL_WORKERS:
        problems.append(f"workers must be 1 to {MAX_LOCAL_WORKERS} (0 only with remote workers), got {config.workers}")
    if not 0 <= config.remote_workers <= MAX_REMOTE_WORKERS:
        problems.append(f"remote_workers must be 0 to {MAX_REMOTE_WORKERS}, got {config.remote_workers}")
    if not 0 <= config.master_port <= 65535:
        problems.append(f"master port must be 0 to 65535, got {config.master_port}")
    if config.remote_workers and not config.master_port:
        problems.append("remote workers need a fixed master port to connect to")
    if config.distributed and config.arrival_rate is not None:
        problems.append("an arrival load runs in one process: leave workers out (distributed arrivals are not "
                        "supported yet)")
    if config.distributed and not 0 < config.workers_timeout_s < math.inf:
        problems.append(f"workers_timeout must be a positive number of seconds, got {config.workers_timeout_s}")
    return problems


def _wait_problems(config: LoadConfig) -> list[str]:
    low, high = config.wait_min_s, config.wait_max_s
    if config.throughput_per_user is not None:
        if low is not None or high is not None:
            return ["give throughput_per_user or wait_min_s/wait_max_s, not both"]
        if not 0 < config.throughput_per_user < math.inf:
            return [f"throughput_per_user must be > 0, got {config.throughput_per_user}"]
        return []
    if low is None and high is None:
        return []
    if low is None or high is None or not 0 <= low <= high:
        return [f"wait_min_s and wait_max_s go together with 0 <= min <= max, got {low}, {high}"]
    return []
