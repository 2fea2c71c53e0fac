"""Planning (pure): the phase timeline, the fault schedule and the exact queries of a run.

`harness plan` prints a Plan; `harness run` executes one. Offsets are seconds from the start of load.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness.load.client_sli import ClientSli
from harness.promql import histogram_selectors, increase_query, is_selector, le_text, raw_samples_query
from harness.spec.faults import FaultBase
from harness.spec.loader import LoadedExperiment
from harness.spec.models import PHASE_ORDER, Experiment, InlineSLO, PhaseName
from harness.spec.units import format_duration

LOCAL_SCRAPE_INTERVAL_S = 1.0
DEFAULT_SCRAPE_INTERVAL_S = 15.0  # Prometheus's own default, used only until the real one is learned


@dataclass(frozen=True)
class PhaseSpan:
    name: PhaseName
    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class FaultSlot:
    index: int
    fault: FaultBase
    start: float
    end: float

    @property
    def name(self) -> str:
        return self.fault.name


@dataclass(frozen=True)
class SliQueries:
    """The counters behind one SLO: `bad` (or `good`) and `total`, selectors or {{window}} expressions."""

    slo: str
    kind: str  # "ratio" | "latency" | "client"
    good: str | None
    bad: str | None
    total: str
    histogram: str | None = None
    selector: str = ""
    threshold_s: float | None = None
    scrape_interval_s: float | None = None
    """Learned from Prometheus for the targets behind this SLI (None until learned)."""
    interval_source: str = ""
    client_requests: tuple[str, ...] | None = None
    """kind "client": the load's request names counted (None: all); `threshold_s` their latency bound."""

    @property
    def exact_countable(self) -> bool:
        return all(is_selector(q) for q in (self.good, self.bad, self.total) if q is not None)

    @property
    def client(self) -> ClientSli | None:
        """What a client SLI counts in the load record; None for the SLIs read from Prometheus."""
        return ClientSli(self.client_requests, self.threshold_s) if self.kind == "client" else None

    @property
    def from_prometheus(self) -> bool:
        """Client SLIs are counted from the load generator's records: no PromQL at all."""
        return self.kind != "client"

    def with_bound(self, le: str) -> SliQueries:
        """A latency SLI with the bucket bound spelled as Prometheus stores it."""
        if self.histogram is None:
            return self
        good, total = histogram_selectors(self.histogram, self.selector, le)
        return replace(self, good=good, bad=None, total=total)


START_AND_JUDGE_S = 15.0
"""Beyond the phases: platform start, checks before the first fault, the last scrapes, judging."""
ASSUMED_INTERVAL = "assumed until learned"  # the interval_source of a plan whose interval is not yet known


@dataclass(frozen=True)
class Plan:
    experiment: str
    phases: tuple[PhaseSpan, ...]
    faults: tuple[FaultSlot, ...]
    slis: tuple[SliQueries, ...]
    scrape_interval_s: float
    settle_s: float
    guard_s: float
    interval_source: str = "the local Prometheus"
    warnings: tuple[str, ...] = ()
    """What the checks before the run found questionable but not wrong (e.g. a declared interval)."""

    @property
    def lookback_s(self) -> float:
        """How far before a window exact counting looks for each series' baseline sample."""
        return max(5.0, 3 * self.scrape_interval_s)

    @property
    def duration(self) -> float:
        return self.phases[-1].end if self.phases else 0.0

    @property
    def expected_s(self) -> float:
        """Wall time of a run, about: its phases, the settle after them, and starting and judging."""
        return self.duration + self.settle_s + START_AND_JUDGE_S

    def phase(self, name: str) -> PhaseSpan:
        for span in self.phases:
            if span.name == name:
                return span
        raise KeyError(name)

    def sli(self, slo: str) -> SliQueries:
        for queries in self.slis:
            if queries.slo == slo:
                return queries
        raise KeyError(slo)


def sli_queries(slo: InlineSLO) -> SliQueries:
    if slo.sli.client is not None:
        client = slo.sli.client
        return SliQueries(slo.name, "client", None, None, "", threshold_s=client.latency,
                          client_requests=client.requests)
    if slo.sli.ratio is not None:
        ratio = slo.sli.ratio
        return SliQueries(slo.name, "ratio", ratio.good, ratio.bad, ratio.total)
    latency = slo.sli.latency
    assert latency is not None
    good, total = histogram_selectors(latency.histogram, latency.selector, le_text(latency.threshold))
    return SliQueries(slo.name, "latency", good, None, total, latency.histogram, latency.selector, latency.threshold)


def build_plan(loaded: LoadedExperiment) -> Plan:
    experiment = loaded.experiment
    offset = 0.0
    spans = []
    for name in PHASE_ORDER:
        length = experiment.phases.length(name)
        spans.append(PhaseSpan(name, offset, offset + length))
        offset += length
    fault_start = spans[PHASE_ORDER.index("fault")].start
    slots = tuple(
        FaultSlot(index, fault, fault_start + fault.at, fault_start + fault.at + fault.length)
        for index, fault in enumerate(experiment.faults)
    )
    scrape, source = LOCAL_SCRAPE_INTERVAL_S, "the local Prometheus"
    if experiment.target.platform != "local":
        declared = experiment.prometheus.scrape_interval if experiment.prometheus else None
        scrape = declared if declared is not None else DEFAULT_SCRAPE_INTERVAL_S
        source = "declared (prometheus.scrape_interval)" if declared is not None else ASSUMED_INTERVAL
    settle = experiment.evidence.settle if experiment.evidence.settle is not None else settle_for(scrape)
    return Plan(
        experiment=loaded.name,
        phases=tuple(spans),
        faults=slots,
        slis=tuple(sli_queries(slo) for slo in loaded.slos),
        scrape_interval_s=scrape,
        settle_s=settle,
        guard_s=experiment.evidence.guard,
        interval_source=source,
    )


def settle_for(scrape_interval_s: float) -> float:
    """How long to wait after the run for the last scrape to land: two intervals and a second."""
    return 2 * scrape_interval_s + 1.0


def judged_window(plan: Plan, phase: str) -> tuple[float, float]:
    """The offsets judged for a phase: the phase without its guard bands."""
    span = plan.phase(phase)
    return span.start + plan.guard_s, span.end - plan.guard_s


def window_queries(queries: SliQueries, window_s: float, exact: bool, lookback_s: float) -> dict[str, str]:
    """The PromQL that counts each side of an SLI over a window, evaluated at the window's end.

    Exact counting reads the raw samples of the window plus a lookback for each series' baseline.
    """
    shown: dict[str, str] = {}
    if not queries.from_prometheus:
        return shown
    for side in ("good", "bad", "total"):
        text = getattr(queries, side)
        if text is None:
            continue
        use_exact = exact and queries.exact_countable
        shown[side] = raw_samples_query(text, window_s + lookback_s) if use_exact else increase_query(text, window_s)
    return shown


def burn_query(sli: SliQueries, window_s: float) -> str:
    """The error ratio over a trailing window, as one PromQL expression."""
    total = increase_query(sli.total, window_s)
    # No matching bad (or good) series means no such event yet, not a missing metric: preflight has
    # already checked that every metric exists.
    if sli.bad is not None:
        return f"(({increase_query(sli.bad, window_s)}) or vector(0)) / ({total})"
    return f"1 - (({increase_query(sli.good or '', window_s)}) or vector(0)) / ({total})"


def fault_edge_warnings(experiment: Experiment, plan: Plan) -> tuple[str, ...]:
    """The warnings before a run for each fault whose effect can be counted in the judged phase after it.

    A counter moves only when it is scraped, so a phase's window is counted from the last scrape at or
    before its judged start: up to one scrape interval early. And the requests a latency fault delayed
    still finish after the fault is reverted. A fault that ends closer than those two to a judged phase
    can leave some of its slow or failed requests in that phase (a recovery judged on them), so it is
    said before anything starts, with the gap that would avoid it.
    """
    judged = {phase for entry in experiment.hypothesis for phase in entry.judged_phases}
    scrape = plan.scrape_interval_s
    assumed = " assumed until it is learned at run time" if plan.interval_source == ASSUMED_INTERVAL else ""
    warnings = []
    for slot in plan.faults:
        if not slot.fault.persists or slot.end <= slot.start:
            continue  # an instant fault (a kill): what follows it is what the next phase should see
        reach = scrape + slot.fault.aftereffect_s
        for span in plan.phases:
            judged_start = span.start + plan.guard_s
            if span.name not in judged or not slot.end <= judged_start < slot.end + reach:
                continue
            held = (f" and requests it delayed finish up to {format_duration(slot.fault.aftereffect_s)} after "
                    "its end" if slot.fault.aftereffect_s else "")
            gap, short = judged_start - slot.end, slot.end + reach - judged_start
            warnings.append(
                f"fault {slot.name} ends {format_duration(gap)} before the {span.name} phase is judged: that window "
                f"is counted from the last scrape before it (up to {format_duration(scrape)} earlier, the scrape "
                f"interval{assumed}){held}, so {span.name} may count some of the fault's requests; end the fault "
                f"at least {format_duration(reach)} before the {span.name} phase, or raise evidence.guard by "
                f"{format_duration(short)}")
    return tuple(warnings)
