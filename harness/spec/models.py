"""The typed, frozen model of an Experiment file (`harness/v1`).

The file format is the user contract (shared spec `experiment-v1.md`); everything here accepts it
exactly. Additions are optional fields, each documented in the README.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, PlainValidator, Tag, field_validator, model_validator

from harness.promql import WINDOW_PLACEHOLDERS, is_selector
from harness.spec.faults import FAULT_TYPES, FaultBase, fault_union
from harness.spec.types import Duration, Model, Name, Percent, PositiveDuration

PhaseName = Literal["warmup", "baseline", "fault", "recovery"]
PHASE_ORDER: tuple[PhaseName, ...] = ("warmup", "baseline", "fault", "recovery")


class Metadata(Model):
    name: Name
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class LocalTarget(Model):
    replicas: int = Field(default=3, ge=1, le=10)
    restart_delay: Duration = 1.0
    """How long the supervisor waits before restarting a killed replica (its start-up delay)."""
    auto_restart: bool = True
    """False: a dead replica stays down until something (a runbook) asks the supervisor's API."""
    alert_rules: tuple[str, ...] = ()
    """Prometheus alerting rule files loaded into the private Prometheus (paths relative to the file)."""


class KubernetesTarget(Model):
    namespace: str = "default"
    context: str | None = None
    """The kube context to use (default: the kubeconfig's current context)."""
    allowed_contexts: tuple[str, ...] = ()
    """The only contexts a run may act on; without it only `context` (so a file naming neither is refused at
    run time, and a stale kubeconfig can never point a gate at production)."""
    workload: str | None = Field(default=None, pattern=r"^(deployment|statefulset)/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    """`deployment/NAME` or `statefulset/NAME`: what a fault without a selector aims at, and whose status
    `replicas_ready` reads."""
    max_pods: int | None = Field(default=None, ge=1)
    """Blast radius: no fault may disrupt more pods than this at once."""
    max_percent: Percent | None = None
    """Blast radius: no fault may disrupt more than this share of the ready pods it selects (a fault without
    a count acts on all of them: set this below 100 % and such faults are refused)."""
    http_port: int = Field(default=8080, ge=1, le=65535)
    """The pods' HTTP port, which an http-error fault's HTTPChaos intercepts."""

    @property
    def permitted_contexts(self) -> tuple[str, ...]:
        return self.allowed_contexts or ((self.context,) if self.context else ())


class ExternalTarget(Model):
    pass


class Target(Model):
    platform: Literal["local", "kubernetes", "external"] = "local"
    local: LocalTarget | None = None
    kubernetes: KubernetesTarget | None = None
    external: ExternalTarget | None = None

    @model_validator(mode="after")
    def _one_block_for_the_platform(self) -> Target:
        for other in ("local", "kubernetes", "external"):
            if other != self.platform and getattr(self, other) is not None:
                raise ValueError(f"has a '{other}' block but platform is '{self.platform}': remove one")
        return self

    @property
    def local_or_default(self) -> LocalTarget:
        return self.local or LocalTarget()


class PrometheusConfig(Model):
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: PositiveDuration = 10.0
    scrape_interval: PositiveDuration | None = None
    """An override of the scrape interval learned from Prometheus (targets API, else sample spacing);
    used where nothing can be learned. One that contradicts what Prometheus shows is reported."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")


class RatioSLI(Model):
    good: str | None = None
    bad: str | None = None
    total: str

    @model_validator(mode="after")
    def _good_or_bad(self) -> RatioSLI:
        if (self.good is None) == (self.bad is None):
            raise ValueError("give exactly one of 'good' or 'bad' beside 'total'")
        return self

    @field_validator("good", "bad", "total")
    @classmethod
    def _countable(cls, value: str | None) -> str | None:
        if value is None or any(p in value for p in WINDOW_PLACEHOLDERS) or (value.strip() and is_selector(value)):
            return value
        raise ValueError(f"expected a counter selector like 'http_requests_total{{code=~\"5..\"}}' or a PromQL "
                         f"expression containing {{{{window}}}}, got {value!r}")


class LatencySLI(Model):
    """A classic histogram's share of events at or under `threshold`.

    `histogram` may carry an inline selector (`http_request_duration_seconds{node="app1"}`): it is split
    into the family name and `selector`. Giving both an inline selector and `selector:` is refused, so
    no label matcher is silently dropped or merged in an unexpected order.
    """

    histogram: str
    selector: str = ""
    threshold: PositiveDuration

    @model_validator(mode="before")
    @classmethod
    def _split_inline_selector(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("histogram"), str):
            return data
        name, brace, rest = data["histogram"].strip().partition("{")
        if not brace:
            return data
        if data.get("selector"):
            raise ValueError("the histogram has an inline selector and 'selector' is given too: keep one of them")
        return {**data, "histogram": name.strip(), "selector": "{" + rest}

    @field_validator("histogram")
    @classmethod
    def _family_name(cls, value: str) -> str:
        import re  # kept local: only this class of the module needs it

        if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", value):
            raise ValueError(f"not a metric name: {value!r} (letters, digits, '_' and ':')")
        for suffix in ("_bucket", "_count", "_sum"):
            if value.endswith(suffix):
                raise ValueError(f"name the histogram family without '{suffix}': {value.removesuffix(suffix)!r}")
        return value

    @field_validator("selector")
    @classmethod
    def _braced(cls, value: str) -> str:
        if value and not (value.startswith("{") and value.endswith("}")):
            raise ValueError(f"expected a label selector in braces like '{{route=\"/api\"}}', got {value!r}")
        return value


class ClientSLI(Model):
    """An SLI counted from the load generator's own per-request records, not from Prometheus: for
    systems whose server metrics cannot see queueing or have no latency histogram."""

    requests: tuple[str, ...] | None = None
    """Names of the load profile's requests (or the user locustfile's request names); default: all."""
    latency: PositiveDuration | None = None
    """A request is good when it succeeded within this time; without it, when it succeeded."""

    @field_validator("requests")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("list at least one request name, or leave 'requests' out to count every request")
        return value


class SLI(Model):
    ratio: RatioSLI | None = None
    latency: LatencySLI | None = None
    client: ClientSLI | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SLI:
        if sum(kind is not None for kind in (self.ratio, self.latency, self.client)) != 1:
            raise ValueError("give exactly one of 'ratio', 'latency' or 'client'")
        return self


class InlineSLO(Model):
    name: Name
    objective: Percent
    period: PositiveDuration = 30 * 86400.0
    description: str = ""
    sli: SLI

    @field_validator("objective")
    @classmethod
    def _percent_not_fraction(cls, value: Decimal) -> Decimal:
        if value < 1:
            raise ValueError(f"objectives are percents: did you mean {(value * 100).normalize():f}?")
        if value >= 100:
            raise ValueError("an objective of 100% leaves no error budget: use e.g. 99.9")
        return value


class ImportSLO(Model):
    import_: str = Field(alias="import")


def _slo_kind(value: Any) -> str:
    if isinstance(value, dict) and "import" in value:
        return "import"
    return "inline"


SLOEntry = Annotated[
    Annotated[InlineSLO, Tag("inline")] | Annotated[ImportSLO, Tag("import")],
    Discriminator(_slo_kind),
]


MAX_LOCAL_WORKERS = 64  # the load driver's own limits (harness.load.config), checked here for exit 2
MAX_REMOTE_WORKERS = 1000


def _worker_count(value: Any) -> int | str | None:
    if value is None or value == "auto":
        return value  # type: ignore[no-any-return]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LOCAL_WORKERS:
        raise ValueError(f"expected a number of worker processes from 0 to {MAX_LOCAL_WORKERS}, or 'auto' (one "
                         f"per core), got {value!r}")
    return value


class LoadRef(Model):
    """`workers`, `remote_workers`, `master` and `workers_timeout` are additions (distributed load)."""

    profile: str
    host: str | None = None
    workers: Annotated[int | Literal["auto"] | None, PlainValidator(_worker_count)] = None
    """Locust worker processes on this machine, driven by a master; `auto`: one per core. Default: one
    Locust process (no master), or none with remote workers."""
    remote_workers: int = Field(default=0, ge=0, le=MAX_REMOTE_WORKERS)
    """Workers started on other machines (`harness load-worker`) that the run waits for."""
    master: str | None = None
    """HOST:PORT the master listens on for workers. Default 127.0.0.1 and a free port (local workers);
    remote workers need it (a port they can reach; Locust's worker port has no authentication)."""
    workers_timeout: PositiveDuration = 60.0
    """How long the run waits for every worker before the warmup; then it stops (exit 5)."""

    @field_validator("master")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"expected HOST:PORT with a port from 1 to 65535 (e.g. 0.0.0.0:5557), got {value!r}")
        return value

    @model_validator(mode="after")
    def _workers_make_sense(self) -> LoadRef:
        if self.workers == 0 and not self.remote_workers:
            raise ValueError("workers: 0 leaves nobody to send load: give at least 1, or remote_workers")
        if self.remote_workers and self.master is None:
            raise ValueError("remote_workers need 'master: HOST:PORT', the address the master listens on and "
                             "they connect to (e.g. 0.0.0.0:5557 on a private network)")
        return self

    @property
    def master_address(self) -> tuple[str, int] | None:
        if self.master is None:
            return None
        host, _, port = self.master.rpartition(":")
        return host.strip("[]"), int(port)


class Phases(Model):
    warmup: Duration = 10.0
    baseline: Duration = 30.0
    fault: Duration = 60.0
    recovery: Duration = 30.0

    def length(self, phase: PhaseName) -> float:
        return float(getattr(self, phase))


class Hypothesis(Model):
    slo: str
    phases: tuple[PhaseName, ...] | None = None
    max_budget_consumed: Percent | None = None
    max_burn_rate: float | None = Field(default=None, gt=0)
    min_budget_remaining: Percent | None = None
    """Refuse to start when less than this share of the SLO's budget is left over its period."""
    period_events: int | None = Field(default=None, ge=1)
    """The real number of events in one SLO period, for an event-normalised budget figure."""

    @property
    def judged_phases(self) -> tuple[PhaseName, ...]:
        return self.phases if self.phases is not None else ("baseline", "fault", "recovery")

    @field_validator("phases")
    @classmethod
    def _not_empty(cls, value: tuple[PhaseName, ...] | None) -> tuple[PhaseName, ...] | None:
        if value is not None and not value:
            raise ValueError("list at least one phase, or leave 'phases' out to judge all but warmup")
        return value


class Abort(Model):
    max_burn_rate: float = Field(gt=0)
    slo: str | None = None
    """The SLO whose burn is watched; default: every SLO of the hypothesis."""
    window: PositiveDuration = 30.0
    check_every: PositiveDuration = 2.0
    consecutive: int = Field(default=2, ge=1)


class ExpectRecovers(Model):
    recovers: str
    within: PositiveDuration
    window: PositiveDuration = 10.0
    """The trailing window over which the good ratio must be back at the objective."""


class ExpectAlert(Model):
    alert: str
    within: PositiveDuration


class ExpectRemediated(Model):
    remediated: str
    """An SLO some `remediation` entry acts for: its runbook ran to the end and the SLO is back."""
    within: PositiveDuration
    """Counted from the alert that started the runbook: the time to recover."""
    window: PositiveDuration = 10.0
    """The trailing window over which the good ratio must be back at the objective."""


class ExpectReplicasReady(Model):
    replicas_ready: int = Field(ge=0)
    within: PositiveDuration


def _expect_kind(value: Any) -> str:
    if isinstance(value, dict):
        for kind in ("recovers", "alert", "replicas_ready", "remediated"):
            if kind in value:
                return kind
    return "unknown"


Expectation = Annotated[
    Annotated[ExpectRecovers, Tag("recovers")]
    | Annotated[ExpectAlert, Tag("alert")]
    | Annotated[ExpectReplicasReady, Tag("replicas_ready")]
    | Annotated[ExpectRemediated, Tag("remediated")],
    Discriminator(
        _expect_kind,
        custom_error_type="expectation_kind",
        custom_error_message="expected one of 'recovers', 'alert', 'replicas_ready' or 'remediated' with 'within'",
    ),
]


class AlertmanagerRef(Model):
    url: str
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")


class Alerting(Model):
    """Burn-rate alerts for the run: generated from the SLOs and loaded into the local Prometheus."""

    slos: tuple[str, ...] | None = None
    """The SLOs that get alerts; default: every SLO of the hypothesis."""
    windows: Literal["production", "experiment"] = "experiment"
    alertmanager: AlertmanagerRef | None = None
    """Platform external: the user's Alertmanager, whose alerts are observed next to ALERTS."""


class Remediation(Model):
    on_alert: str
    """An alert name: a generated one (`<slo>-page`, `<slo>-ticket`) or one of `alert_rules`."""
    runbook: str
    """A `kind: Runbook` file, relative to the experiment."""
    slo: str | None = None
    """The SLO this remediation restores; implied for a generated alert."""


class EvidencePolicy(Model):
    """How much evidence a verdict needs (an addition to the spec; every field optional)."""

    min_events: int = Field(default=100, ge=1)
    confidence: Percent = Decimal("95")

    @field_validator("confidence")
    @classmethod
    def _usable_confidence(cls, value: Decimal) -> Decimal:
        if not Decimal(50) <= value < Decimal(100):
            raise ValueError(f"use a confidence from 50% up to (not including) 100%, e.g. 95%; got {value}%")
        return value
    counting: Literal["exact", "increase"] = "exact"
    guard: Duration = 0.0
    """Seconds left out of the judged window on each side of every phase boundary."""
    min_achieved_rps_ratio: float = Field(default=0.8, ge=0, le=1)
    client_server_tolerance: Percent = Decimal("2")
    settle: Duration | None = None
    """How long to wait after a phase for its last scrape; default 2 scrape intervals + 1 s."""


class Experiment(Model):
    api_version: Literal["harness/v1"] = Field(alias="apiVersion")
    kind: Literal["Experiment"]
    metadata: Metadata
    target: Target = Field(default_factory=Target)
    prometheus: PrometheusConfig | None = None
    slos: tuple[SLOEntry, ...] = Field(min_length=1)
    load: LoadRef
    phases: Phases = Field(default_factory=Phases)
    faults: tuple[FaultBase, ...] = ()
    """Each entry validated as the model its `type` names (the union is built by `set_fault_models`)."""
    hypothesis: tuple[Hypothesis, ...] = Field(min_length=1)
    abort: Abort | None = None
    alerting: Alerting | None = None
    remediation: tuple[Remediation, ...] = ()
    expect: tuple[Expectation, ...] = ()
    evidence: EvidencePolicy = Field(default_factory=EvidencePolicy)


def set_fault_models(models: dict[str, type[FaultBase]]) -> None:
    """Make `faults:` of an experiment accept exactly these fault types (the built-ins plus registered
    ones): the tagged union is rebuilt, so errors keep their field paths and the list of valid types."""
    FAULT_TYPES.clear()
    FAULT_TYPES.update(models)
    Experiment.model_fields["faults"].annotation = tuple[fault_union(models), ...]  # type: ignore[misc,assignment]
    Experiment.model_rebuild(force=True)


set_fault_models(dict(FAULT_TYPES))
