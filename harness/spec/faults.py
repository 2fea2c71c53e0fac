"""Fault entries of an experiment, told apart by `type`.

Every fault that persists has a `duration`; the harness reverts it when the duration ends and on
every other path (failure, abort, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from harness.spec.types import Duration, HttpUrl, Model, Percent, PositiveDuration
from harness.spec.units import parse_percent


class ProbeCall(Model):
    """An HTTP probe: the fault took effect when the answer's status is one of `expect_status`."""

    url: HttpUrl
    method: Literal["GET", "POST", "HEAD"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    expect_status: tuple[int, ...] = Field(min_length=1)
    timeout: PositiveDuration = 5.0


class FaultVerify(Model):
    """Proof that a fault took effect, checked after injection: a PromQL condition or an HTTP probe."""

    query: str | None = None
    """PromQL; true when the answer holds at least one sample (write it as a condition: `x > 0`)."""
    probe: ProbeCall | None = None
    within: PositiveDuration = 10.0
    """How long after the injection the condition may take to hold (checked repeatedly until then)."""

    @model_validator(mode="after")
    def _one_check(self) -> FaultVerify:
        if (self.query is None) == (self.probe is None):
            raise ValueError("give exactly one of 'query' (a PromQL condition) or 'probe' (an HTTP check)")
        return self


PLATFORMS = ("local", "kubernetes", "external")


class FaultBase(Model):
    """What every fault has. A fault type's model names its `type`, the `platforms` it runs on, its own
    fields and validators, and what this machine must have (`environment_problems`)."""

    platforms: ClassVar[frozenset[str]] = frozenset()
    type: str
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    at: Duration = 0.0
    selector: dict[str, str] | None = None
    """Label selector; without it a fault applies to all replicas of the target."""
    verify: FaultVerify | None = None
    """Optional proof that the fault took effect (beyond the fault type's own check)."""
    expect_down: tuple[dict[str, str], ...] = ()
    """Scrape targets (label matchers, e.g. {instance: "10.0.0.2:8080"}) this fault takes down: while
    down they serve nothing, so their missing scrapes during the fault hide at most the events between
    their last scrape and the fault's start."""

    @property
    def persists(self) -> bool:
        return True

    @property
    def length(self) -> float:
        return float(getattr(self, "duration", None) or 0.0)

    @property
    def aftereffect_s(self) -> float:
        """How long after its revert the fault's effect may still be counted: requests it held finish."""
        return 0.0

    def environment_problems(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        """What this machine lacks to run the fault (a program not on PATH...), as (field path under the
        fault, message). Checked at validation, after the file model; none by default."""
        return iter(())


class PodKill(FaultBase):
    type: Literal["pod-kill"]
    platforms: ClassVar[frozenset[str]] = frozenset({"local", "kubernetes"})
    count: int | str | None = None
    percent: Percent | None = None
    duration: Duration | None = None
    """Optional: how long the fault's window lasts for judging and verification (the kill is instant)."""
    mode: Literal["delete", "evict"] = "delete"
    """Kubernetes: delete the pods (chaosk8s terminate_pods), or evict them (the Eviction API, which
    respects PodDisruptionBudgets)."""
    grace_period: Duration | None = None
    """Kubernetes: the pods' termination grace period (default: each pod's own)."""

    @field_validator("count")
    @classmethod
    def _count_or_percent_text(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, str):
            text = value.strip()
            if not text.endswith("%"):
                raise ValueError(f"expected a number of replicas like 1 or a percentage like 34%, got {value!r}")
            if parse_percent(text) <= 0:  # a ValueError for anything not a percentage in [0, 100]
                raise ValueError("must kill at least 1 replica: give a percentage above 0%")
            return text
        if isinstance(value, int) and value < 1:
            raise ValueError("must kill at least 1 replica")
        return value

    @model_validator(mode="after")
    def _one_amount(self) -> PodKill:
        if self.count is not None and self.percent is not None:
            raise ValueError("give either 'count' or 'percent', not both")
        return self

    @property
    def persists(self) -> bool:
        return False

    def victims(self, available: int) -> int:
        """How many of `available` replicas to kill (a percentage rounds up, at least 1)."""
        share: Decimal | None = self.percent
        if isinstance(self.count, str):
            share = Decimal(self.count.removesuffix("%"))
        if share is not None:
            # Round up: 34% of 3 replicas is 2. (Decimal's `//` truncates towards zero, so the
            # integer idiom -(-a // b) would round 1.02 down to 1.)
            wanted = math.ceil(Decimal(available) * share / Decimal(100))
            return min(available, max(1, wanted))
        return min(available, self.count if isinstance(self.count, int) else 1)


class Latency(FaultBase):
    type: Literal["latency"]
    platforms: ClassVar[frozenset[str]] = frozenset({"local", "kubernetes"})
    duration: PositiveDuration
    delay: Annotated[PositiveDuration, Field(le=60.0)]
    jitter: Duration = 0.0

    @property
    def aftereffect_s(self) -> float:
        return float(self.delay + self.jitter)  # a request delayed just before the revert


class HttpError(FaultBase):
    type: Literal["http-error"]
    platforms: ClassVar[frozenset[str]] = frozenset({"local", "kubernetes"})
    duration: PositiveDuration
    rate: Percent
    status: int = Field(default=503, ge=400, le=599)


class Blackhole(FaultBase):
    type: Literal["blackhole"]
    platforms: ClassVar[frozenset[str]] = frozenset({"local", "kubernetes"})
    duration: Annotated[PositiveDuration, Field(le=3600.0)]


class ProcessPause(FaultBase):
    type: Literal["process-pause"]
    platforms: ClassVar[frozenset[str]] = frozenset({"local"})
    duration: PositiveDuration
    count: int | None = Field(default=None, ge=1)


class CpuStress(FaultBase):
    type: Literal["cpu-stress"]
    platforms: ClassVar[frozenset[str]] = frozenset({"local", "kubernetes"})
    duration: PositiveDuration
    workers: int = Field(default=1, ge=1, le=64)
    load: Percent = Decimal("100")

    def environment_problems(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        if shutil.which("stress-ng") is None:
            yield ("type",), "cpu-stress needs stress-ng: apt-get install stress-ng"


class ChaosToolkit(FaultBase):
    type: Literal["chaostoolkit"]
    platforms: ClassVar[frozenset[str]] = frozenset({"local", "kubernetes", "external"})
    duration: Duration | None = None
    action: dict[str, Any]
    rollback: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _duration_with_rollback(self) -> ChaosToolkit:
        if self.rollback is not None and self.duration is None:
            raise ValueError("a fault with a rollback persists: give it a 'duration' (when the rollback runs)")
        return self

    @property
    def persists(self) -> bool:
        return self.rollback is not None

    def environment_problems(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        yield from activity_problems("action", self.action)
        if self.rollback is not None:
            yield from activity_problems("rollback", self.rollback)


def activity_problems(key: str, activity: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    from chaoslib.activity import ensure_activity_is_valid  # Chaos Toolkit is only needed for this type
    from chaoslib.exceptions import InvalidActivity

    try:
        ensure_activity_is_valid(activity)
    except InvalidActivity as err:
        yield (key,), f"not a valid Chaos Toolkit activity: {err}"
    except Exception as err:  # a provider module that fails on import is the user's to fix, not a crash
        yield (key,), f"cannot check the Chaos Toolkit activity: {type(err).__name__}: {err}"


class HttpCall(Model):
    url: HttpUrl
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    timeout: PositiveDuration = 10.0
    expect_status: tuple[int, ...] = (200, 201, 202, 204)


class HttpFault(FaultBase):
    type: Literal["http"]
    platforms: ClassVar[frozenset[str]] = frozenset({"local", "kubernetes", "external"})
    duration: PositiveDuration
    start: HttpCall
    stop: HttpCall


class ProcessFault(FaultBase):
    type: Literal["process"]
    platforms: ClassVar[frozenset[str]] = frozenset({"local", "kubernetes", "external"})
    duration: PositiveDuration
    start: tuple[str, ...] = Field(min_length=1)
    stop: tuple[str, ...] = Field(min_length=1)
    timeout: PositiveDuration = 30.0

    def environment_problems(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        for key in ("start", "stop"):
            program = getattr(self, key)[0]
            if "/" not in program and shutil.which(program) is None:
                yield (key, 0), f"program {program!r} not found on PATH"


FAULT_TYPES: dict[str, type[FaultBase]] = {
    "pod-kill": PodKill,
    "latency": Latency,
    "http-error": HttpError,
    "blackhole": Blackhole,
    "process-pause": ProcessPause,
    "cpu-stress": CpuStress,
    "chaostoolkit": ChaosToolkit,
    "http": HttpFault,
    "process": ProcessFault,
}


CLUSTER_FAULTS = frozenset({"pod-kill", "latency", "http-error", "blackhole", "cpu-stress"})
"""The built-in types that act on pods when the platform is kubernetes (and so obey its blast-radius policy)."""


def fault_union(types: Mapping[str, type[FaultBase]]) -> Any:
    """The tagged union of these fault models, told apart by `type`: what `faults:` of an experiment accepts."""
    members = tuple(Annotated[model, Tag(name)] for name, model in types.items())
    return Annotated[
        Union[members],  # noqa: UP007 (a union built at run time has no `|` spelling)
        Discriminator(_fault_type, custom_error_type="fault_type",
                      custom_error_message="'type' must be one of: " + ", ".join(types)),
    ]


def _fault_type(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type")
        return kind if isinstance(kind, str) and kind in FAULT_TYPES else None
    return None


def faults_on(platform: str) -> frozenset[str]:
    """The fault types that run on this platform (built-in and registered)."""
    return frozenset(name for name, model in FAULT_TYPES.items() if platform in model.platforms)
