"""Fault specifications of the fault proxy: parsed and checked once, then plain frozen values.

A spec is the JSON body of `PUT /faults/<name>` on the proxy's control API:

    {"kind": "latency", "delay_s": 0.2, "jitter_s": 0.02, "targets": [0, 2]}
    {"kind": "http-error", "rate": 0.05, "status": 503, "targets": [1]}
    {"kind": "blackhole", "hold_s": 30, "targets": [0]}

`targets` (required, non-empty) are replica indexes. Faults apply once per request.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("latency", "http-error", "blackhole")
ACTIONS = ("none", "latency", "error", "blackhole")
HEALTH_PATH = "/healthz"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_DELAY_S = 60.0
_ALLOWED = {
    "latency": {"kind", "targets", "delay_s", "jitter_s"},
    "http-error": {"kind", "targets", "rate", "status"},
    "blackhole": {"kind", "targets", "hold_s"},
}


class FaultSpecError(ValueError):
    """A fault spec is invalid; the message says which field and why."""


@dataclass(frozen=True)
class FaultSpec:
    name: str
    kind: str
    targets: tuple[int, ...]
    delay_s: float = 0.0
    jitter_s: float = 0.0
    rate: float = 1.0
    status: int = 503
    hold_s: float = 30.0

    def to_json(self) -> dict[str, Any]:
        """The spec as the control API shows it (only the fields of its kind)."""
        data = asdict(self)
        keep = _ALLOWED[self.kind] | {"name"}
        return {
            key: (list(value) if key == "targets" else value) for key, value in data.items() if key in keep
        }


def parse_fault(name: str, body: object, replicas: int) -> FaultSpec:
    """Check a spec against the proxy's replica count; FaultSpecError lists every problem at once."""
    if not NAME_PATTERN.match(name):
        raise FaultSpecError(f"fault name {name!r}: use 1-64 characters among A-Z a-z 0-9 _ . -")
    if not isinstance(body, Mapping):
        raise FaultSpecError("fault spec: expected a JSON object")
    kind = body.get("kind")
    if kind not in KINDS:
        raise FaultSpecError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    problems = [f"{key}: unknown field for kind {kind}" for key in sorted(set(body) - _ALLOWED[kind])]
    targets = _targets(body.get("targets"), replicas, problems)
    fields: dict[str, Any] = {}
    if kind == "latency":
        fields["delay_s"] = _number(body, "delay_s", None, 0.0, MAX_DELAY_S, problems)
        fields["jitter_s"] = _number(body, "jitter_s", 0.0, 0.0, MAX_DELAY_S, problems)
    elif kind == "http-error":
        fields["rate"] = _number(body, "rate", 1.0, 0.0, 1.0, problems)
        fields["status"] = _status(body.get("status", 503), problems)
    else:
        fields["hold_s"] = _number(body, "hold_s", 30.0, 0.001, 3600.0, problems)
    if problems:
        raise FaultSpecError("; ".join(problems))
    return FaultSpec(name=name, kind=str(kind), targets=targets, **fields)


def _targets(value: object, replicas: int, problems: list[str]) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        problems.append(f"targets: expected a non-empty list of replica indexes 0..{replicas - 1}")
        return ()
    good = [t for t in value if isinstance(t, int) and not isinstance(t, bool) and 0 <= t < replicas]
    if len(good) != len(value):
        problems.append(f"targets: {value!r} has entries that are not replica indexes 0..{replicas - 1}")
    return tuple(sorted(set(good)))


def _number(
    body: Mapping[str, Any], key: str, default: float | None, low: float, high: float, problems: list[str]
) -> float:
    value = body.get(key, default)
    if value is None:
        problems.append(f"{key}: required (seconds, a number)")
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        problems.append(f"{key}: expected a number between {low:g} and {high:g}, got {value!r}")
        return 0.0
    return float(value)


def _status(value: object, problems: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
        problems.append(f"status: expected an HTTP error status 400..599, got {value!r}")
        return 503
    return value


@dataclass(frozen=True)
class Decision:
    action: str
    delay_s: float = 0.0
    status: int = 0
    blackhole: FaultSpec | None = None


def decide(faults: Sequence[FaultSpec], path: str, rng: random.Random) -> Decision:
    """What to do with one request: blackhole wins; latencies add up; then an error may be drawn."""
    for spec in faults:
        if spec.kind == "blackhole":
            return Decision("blackhole", blackhole=spec)
    delays = [
        max(0.0, f.delay_s + rng.uniform(-f.jitter_s, f.jitter_s)) for f in faults if f.kind == "latency"
    ]
    delay = sum(delays)
    for spec in faults:
        if spec.kind == "http-error" and path != HEALTH_PATH and rng.random() < spec.rate:
            return Decision("error", delay_s=delay, status=spec.status)
    return Decision("latency" if delays else "none", delay_s=delay)


class FaultTable:
    """The active faults, and per fault an event that releases its blackholed connections."""

    def __init__(self, replicas: int) -> None:
        self.replicas = replicas
        self._specs: dict[str, FaultSpec] = {}
        self._released: dict[str, asyncio.Event] = {}

    def put(self, spec: FaultSpec) -> None:
        self.delete(spec.name)
        self._specs[spec.name] = spec
        self._released[spec.name] = asyncio.Event()

    def delete(self, name: str) -> bool:
        self._specs.pop(name, None)
        event = self._released.pop(name, None)
        if event is not None:
            event.set()
        return event is not None

    def for_replica(self, index: int) -> list[FaultSpec]:
        return [spec for spec in self._specs.values() if index in spec.targets]

    def released(self, name: str) -> asyncio.Event:
        return self._released.get(name) or _set_event()

    def as_json(self) -> dict[str, dict[str, Any]]:
        return {name: spec.to_json() for name, spec in sorted(self._specs.items())}


def _set_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event
