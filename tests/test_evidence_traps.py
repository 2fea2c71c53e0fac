"""Every SLO-evidence trap of the notes, driven through collect_phase and judge_slo against a fake Prometheus.

The fake answers from a table of raw samples (tests/fakes): each row below writes the counters a
real edge would expose, scraped every S seconds, and says which verdict and which reason the
harness must give for one 600 s fault window.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import Refused
from harness.evidence.budget import remaining_budget
from harness.evidence.collect import Window, collect_phase, peak_burn_rate, preflight, resolve_latency_bounds
from harness.evidence.counting import Count
from harness.evidence.phase import ClientCounts, PhaseEvidence
from harness.judge.slo import PhaseJudgement, SloJudgement, budget_ratio, judge_slo
from harness.judge.verdict import Verdict
from harness.plan import Plan, SliQueries, sli_queries
from harness.prom.client import PromClient
from harness.run.preflight import budget_gate
from harness.spec.loader import load_experiment
from harness.spec.models import EvidencePolicy, Hypothesis, InlineSLO
from tests.fakes.prometheus import FakePrometheus, FakeSeries, series

T0 = 1_700_000_000.0
S = 5.0  # scrape interval of the table
LAST = 140  # scrapes 0 .. 140: T0 .. T0 + 700 s
START = T0 + 62.5  # window edges fall between scrapes, as they do in real runs
END = START + 600.0
WINDOW = Window("fault", START, END)
IN_WINDOW = range(13, 133)  # the 120 scrapes in (START, END]; scrape 12 is the baseline
EDGE = 'job="edge",instance="edge:80"'
SERVED = f'http_requests_total{{{EDGE},code="200"}}'
FAILED = f'http_requests_total{{{EDGE},code="500"}}'
TOTAL = 'http_requests_total{job="edge"}'
BAD = 'http_requests_total{job="edge",code=~"5.."}'
WILSON_ZERO_OF_6000 = ("0 bad of 6000 events: interval [0.000 %, 0.064 %] (Wilson, z=1.96) "
                       "within the budget 0.100 %")


# -- the table's building blocks ------------------------------------------------------------------


def counter(spec: str, events: Callable[[int], float] | float, *, first: int = 0, last: int = LAST,
            restart_at: int | None = None, broken: Mapping[int, float] | None = None) -> FakeSeries:
    """A counter scraped every S from scrape `first`: events(i) new events at scrape i.

    Exposed from scrape 0 it starts at 0; born later, its first sample already holds its first events.
    A restart exposes only the events since the restart; `broken` samples replace the exposed value.
    """
    value, points = 0.0, []
    for i in range(first, last + 1):
        new = 0.0 if i == 0 else (events(i) if callable(events) else events)
        value = new if i == restart_at else value + new
        points.append((T0 + i * S, (broken or {}).get(i, value)))
    return series(spec, points)


def up(labels: str = EDGE, *, down: Sequence[int] = (), missing: Sequence[int] = (),
       last: int = LAST) -> FakeSeries:
    return series(f"up{{{labels}}}", [(T0 + i * S, 0.0 if i in down else 1.0)
                                      for i in range(last + 1) if i not in missing])


def edge(errors: Mapping[int, float] | None = None, *, per_scrape: float = 50, labels: str = EDGE,
         five_xx: bool = True, **kwargs: Any) -> list[FakeSeries]:
    """An edge serving per_scrape requests between scrapes, `errors[i]` of them answered 500."""
    failed = errors or {}
    spec = f"http_requests_total{{{labels},code="
    table = [counter(f'{spec}"200"}}', lambda i: per_scrape - failed.get(i, 0), **kwargs)]
    if five_xx:
        table.append(counter(f'{spec}"500"}}', lambda i: failed.get(i, 0), **kwargs))
    return table


def slo(objective: str = "99.9", **ratio: str) -> InlineSLO:
    return InlineSLO.model_validate(
        {"name": "checkout", "objective": objective, "sli": {"ratio": ratio or {"bad": BAD, "total": TOTAL}}})


def plan_for(sli: SliQueries) -> Plan:
    return Plan("traps", phases=(), faults=(), slis=(sli,), scrape_interval_s=S, settle_s=0.0, guard_s=0.0)


@dataclass(frozen=True)
class Trap:
    table: tuple[FakeSeries, ...]
    verdict: Verdict
    reason: str
    slo: InlineSLO = field(default_factory=slo)
    exact: bool = True
    window: Window = WINDOW
    client: ClientCounts | None = None
    warnings: tuple[tuple[str, str], ...] = ()  # (text, on queries containing)
    hypothesis: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    evidence: PhaseEvidence
    slo: SloJudgement
    prom: FakePrometheus

    @property
    def phase(self) -> PhaseJudgement:
        return self.slo.phases[0]


def judge_trap(trap: Trap) -> Outcome:
    with FakePrometheus(trap.table) as prom:
        for text, containing in trap.warnings:
            prom.warn(text, containing)
        client = PromClient(prom.url, backoff_s=0.01)
        evidence = collect_phase(client, sli_queries(trap.slo), trap.window, plan_for(sli_queries(trap.slo)),
                                 trap.exact, trap.client)
        client.close()
    hypothesis = Hypothesis.model_validate({"slo": "checkout", "phases": ["fault"], **trap.hypothesis})
    judged = judge_slo(trap.slo, hypothesis, [evidence], EvidencePolicy())
    return Outcome(evidence, judged, prom)


OUTSIDE = {2: 40.0, 12: 40.0, 133: 40.0, 139: 40.0}  # errors just before and just after the window
ONE_PER_SCRAPE = {i: 1.0 for i in IN_WINDOW}
PARTIAL = "partial response: store 10.0.0.7:10901 unavailable"

TRAPS: dict[str, Trap] = {
    "no_data": Trap(
        (*edge(last=8), up(last=8)), "INCONCLUSIVE",
        "total: no samples; bad: no samples; no data for total"),
    "no_data_increase": Trap(
        (*edge(last=8), up(last=8)), "INCONCLUSIVE",
        "total: empty result; bad: empty result; no data for total", exact=False),
    "renamed_metric": Trap(
        (*edge(), up()), "INCONCLUSIVE", "bad: no samples; no data for bad",
        slo=slo(bad='http_errors_total{job="edge"}', total=TOTAL)),
    "bad_side_no_series_but_metric_exists": Trap(
        (*edge(five_xx=False), up()), "PASS", WILSON_ZERO_OF_6000),
    "nan_sample": Trap(
        (counter(SERVED, 50, broken={70: math.nan}), counter(FAILED, 0), up()), "INCONCLUSIVE",
        'total: NaN in result: http_requests_total{code="200",instance="edge:80",job="edge"} '
        f"at {T0 + 350:.3f}; no data for total"),
    "nan_sample_on_bad_side": Trap(
        (counter(SERVED, 50), counter(f"http_errors_total{{{EDGE}}}", 0, broken={70: math.nan}), up()),
        "INCONCLUSIVE",
        f'bad: NaN in result: http_errors_total{{instance="edge:80",job="edge"}} at {T0 + 350:.3f}; '
        "no data for bad",
        slo=slo(bad='http_errors_total{job="edge"}', total=TOTAL)),
    "nan_sample_increase": Trap(  # increase() skips a NaN inside the window: the last sample is NaN here
        (counter(SERVED, 50, broken={132: math.nan}), counter(FAILED, 0), up()), "INCONCLUSIVE",
        "total: NaN in result; no data for total", exact=False),
    "inf_sample_increase": Trap(
        (counter(SERVED, 50), counter(FAILED, 0, broken={70: math.inf}), up()), "INCONCLUSIVE",
        "total: +Inf in result; bad: +Inf in result; no data for total", exact=False),
    "nan_ratio": Trap(
        (*edge(per_scrape=0), up()), "INCONCLUSIVE",
        "0 bad of 0 events: fewer than the 100 events needed to decide"),
    "warnings_in_response": Trap(
        (*edge(), up()), "INCONCLUSIVE", f"total: warning: {PARTIAL}; bad: warning: {PARTIAL}",
        warnings=((PARTIAL, ""),)),
    "warning_on_bad_side_without_series": Trap(
        (*edge(five_xx=False), up()), "INCONCLUSIVE",
        f"bad: no samples; bad: warning: {PARTIAL}; no data for bad",
        warnings=((PARTIAL, "code=~"),)),
    "more_series_than_expected": Trap(
        (*edge(), *edge(labels='job="edge",instance="edge:81"'), up()), "INCONCLUSIVE",
        "total: 2 series after sum (expected 1); no data for total",
        slo=slo(bad=BAD, total='sum by (instance) (increase(http_requests_total{job="edge"}[{{window}}]))')),
    "counter_reset_in_window": Trap(  # edge:81 killed: its restart at scrape 60 exposes only 10 new requests
        (*edge(per_scrape=25),
         counter('http_requests_total{job="edge",instance="edge:81",code="200"}',
                 lambda i: 10.0 if i == 60 else 25.0, restart_at=60),
         up(), up('job="edge",instance="edge:81"')), "PASS",
        "0 bad of 5985 events: interval [0.000 %, 0.064 %] (Wilson, z=1.96) within the budget 0.100 %"),
    "counter_born_in_window": Trap(
        (*edge({i: (30.0 if i == 70 else 2.0) for i in range(70, LAST + 1)}, five_xx=False),
         counter(FAILED, lambda i: 30.0 if i == 70 else 2.0, first=70),
         up()), "FAIL",
        "154 bad of 6000 events: interval [2.196 %, 2.998 %] (Wilson, z=1.96) above the budget 0.100 %"),
    # The edge missed one scrape but its counters continued: the exact count is unaffected.
    "target_down_during_window": Trap((*edge(), up(down=[50])), "PASS", WILSON_ZERO_OF_6000),
    "target_down_behind_an_expression": Trap(
        (*edge(), up(down=[50])), "INCONCLUSIVE",
        "target edge:80 down during the window: the SLI is a PromQL expression, so what the outage hides cannot "
        f"be bounded (write the SLI as counter selectors for exact counting); {WILSON_ZERO_OF_6000}",
        slo=slo(bad='sum(increase(http_requests_total{job="edge",code=~"5.."}[{{window}}]))',
                total='sum(increase(http_requests_total{job="edge"}[{{window}}]))')),
    "scrape_gap": Trap((*edge(), up(missing=range(40, 70))), "PASS", WILSON_ZERO_OF_6000),
    "run_too_short_for_scrape_interval": Trap(
        (*edge(per_scrape=5000), up()), "INCONCLUSIVE",
        "the fault window (8s) is shorter than two scrape intervals (5s): too short to measure; "
        "0 bad of 10000 events: interval [0.000 %, 0.038 %] (Wilson, z=1.96) within the budget 0.100 %",
        window=Window("fault", START, START + 8.0)),
    "three_errors_in_6000_at_99_9": Trap(
        (*edge({40: 1.0, 70: 1.0, 100: 1.0}), up()), "INCONCLUSIVE",
        "3 bad of 6000 events: interval [0.017 %, 0.147 %] (Wilson, z=1.96) straddles the budget 0.100 %; "
        "more events are needed to decide"),
    "zero_in_6000_at_99_9": Trap((*edge(OUTSIDE), up()), "PASS", WILSON_ZERO_OF_6000),
    "120_in_6000_at_99_9": Trap(
        (*edge({**OUTSIDE, **ONE_PER_SCRAPE}), up()), "FAIL",
        "120 bad of 6000 events: interval [1.675 %, 2.386 %] (Wilson, z=1.96) above the budget 0.100 %"),
    "float_budget_trap": Trap(
        (*edge(ONE_PER_SCRAPE), up()), "FAIL",
        "120 bad of 6000 events: interval [1.675 %, 2.386 %] (Wilson, z=1.96) above the budget 0.100 %",
        hypothesis={"max_burn_rate": 20}),
    "load_below_requested": Trap(
        (*edge(), up()), "INCONCLUSIVE",
        "load reached 10.0 req/s of the 20.0 requested (50.0% < min_achieved_rps_ratio 80%): the load "
        "generator reached 10.0 req/s of 20.0 requested while responses took an unknown time on average: "
        "the generator could not keep up "
        "(its CPU?); the evidence cannot show the system under the requested load; "
        + WILSON_ZERO_OF_6000,
        client=ClientCounts(6000, 0, 10.0, 20.0)),
    "client_server_disagree": Trap(
        (*edge(), up()), "INCONCLUSIVE",
        "contradicting evidence: the load saw 200 of 6200 requests fail, but the SLI counts 0 bad of 6000: its bad "
        "selector may not match these errors (check its label values), or they failed before the server counted "
        f"them (a killed process: measure at the edge); {WILSON_ZERO_OF_6000}",
        client=ClientCounts(6200, 200, 10.3, 10.0)),
    "good_exceeds_total": Trap(
        (*edge(), *edge(labels='job="replica",instance="shop:8001"'), up()), "INCONCLUSIVE",
        "good (12000) does not fit total (6000)",
        slo=slo(good='http_requests_total{code="200"}', total=TOTAL)),
}


@pytest.mark.parametrize("trap_id", list(TRAPS))
def test_trap_verdict_and_reason(trap_id: str) -> None:
    trap = TRAPS[trap_id]
    outcome = judge_trap(trap)
    assert outcome.prom.unsupported == []
    assert (outcome.phase.verdict, outcome.phase.reason) == (trap.verdict, trap.reason)
    assert outcome.slo.verdict == trap.verdict
    held = "every judged phase and limit held"
    assert outcome.slo.reason == (held if trap.verdict == "PASS" else f"phase fault: {trap.reason}")


# -- what each trap must also show -------------------------------------------------------------------


def test_no_data_is_never_zero() -> None:
    outcome = judge_trap(TRAPS["no_data"])
    assert outcome.evidence.total.value is None
    assert (outcome.phase.total, outcome.phase.sli, outcome.phase.burn_rate) == (None, None, None)
    assert outcome.slo.budget_consumed is None


def test_renamed_metric_is_reported_by_preflight() -> None:
    renamed = sli_queries(TRAPS["renamed_metric"].slo)
    with FakePrometheus(TRAPS["renamed_metric"].table) as prom:
        client = PromClient(prom.url, backoff_s=0.01)
        problems = preflight(client, [renamed, sli_queries(slo())], END, 600.0)
    assert problems == ["SLO checkout: bad metric http_errors_total has no series in the last 600s "
                        "(misspelt, renamed, or not scraped?)"]
    assert prom.unsupported == []


def test_a_misspelt_label_in_the_bad_selector_is_reported_by_preflight() -> None:
    # `cod` for `code`: the selector would match nothing, and "no errors" would pass
    typo = sli_queries(slo(bad='http_requests_total{job="edge",cod=~"5.."}', total=TOTAL))
    with FakePrometheus((*edge(), up())) as prom:
        problems = preflight(PromClient(prom.url, backoff_s=0.01), [typo], END, 600.0)
    assert problems == ["SLO checkout: bad selector matches on label 'cod', which http_requests_total never "
                        "carries in the last 600s (misspelt?)"]
    assert prom.unsupported == []


def test_bad_side_without_series_counts_zero_only_because_the_metric_exists() -> None:
    outcome = judge_trap(TRAPS["bad_side_no_series_but_metric_exists"])
    assert outcome.evidence.bad == Count(0.0, "exact-samples", 0)
    assert (outcome.phase.bad, outcome.phase.total, outcome.phase.sli) == (0.0, 6000.0, 1.0)
    assert outcome.prom.queries('count(last_over_time({__name__="http_requests_total"}')


def test_nan_ratio_gives_no_burn_rate_and_no_peak() -> None:
    trap = TRAPS["nan_ratio"]
    outcome = judge_trap(trap)
    assert (outcome.phase.total, outcome.phase.sli, outcome.phase.burn_rate) == (0.0, None, None)
    with FakePrometheus(trap.table) as prom:
        client = PromClient(prom.url, backoff_s=0.01)
        ratio = client.query(f"(sum(increase({BAD}[60s])) or vector(0)) / sum(increase({TOTAL}[60s]))", END)
        peak = peak_burn_rate(client, sli_queries(trap.slo), 0.001, START, END, 60.0, S)
    assert math.isnan(ratio.vector[0].value)  # 0/0: NaN compares False both ways, so it must not be a peak
    assert peak is None
    assert prom.unsupported == []


def test_counter_reset_in_window_counted_exactly_where_increase_and_subtraction_are_off() -> None:
    trap = TRAPS["counter_reset_in_window"]
    outcome = judge_trap(trap)
    assert outcome.evidence.total == Count(5985.0, "exact-samples", 3, resets=1)
    assert outcome.phase.notes == ("1 counter reset(s) in the window, counted exactly",)
    increase = judge_trap(Trap(trap.table, trap.verdict, trap.reason, exact=False))
    # increase() handles the reset too, but extrapolates the window's first interval from the average rate
    assert increase.evidence.total.value == pytest.approx((5985 - 50) * 600 / 595, rel=1e-12)
    with FakePrometheus(trap.table) as prom:
        client = PromClient(prom.url, backoff_s=0.01)
        naive = [client.query(f"sum({TOTAL})", at).vector[0].value for at in (START, END)]
    # x@t1 - x@t0: edge:80 went 300 -> 3300, edge:81 300 -> 10 + 72 * 25 after its restart at scrape 60
    assert naive == [600.0, 5110.0]


def test_counter_born_in_window_listed_and_counted_exactly() -> None:
    outcome = judge_trap(TRAPS["counter_born_in_window"])
    born = {"__name__": "http_requests_total", "code": "500", "instance": "edge:80", "job": "edge"}
    assert outcome.evidence.bad is not None
    assert (outcome.evidence.bad.value, outcome.evidence.bad.born_in_window) == (154.0, (born,))
    assert outcome.phase.born_in_window == (born,)
    assert outcome.phase.notes == ("1 series born inside the window",)
    increase = judge_trap(Trap(TRAPS["counter_born_in_window"].table, "FAIL", "", exact=False))
    assert increase.evidence.bad is not None and increase.evidence.bad.value is not None
    assert increase.evidence.bad.value < 154.0  # extrapolation undercounts a series born in the window
    assert increase.evidence.bad.born_in_window == (born,)


def test_120_in_6000_burns_20_and_spends_the_time_normalised_budget() -> None:
    outcome = judge_trap(TRAPS["120_in_6000_at_99_9"])
    assert (outcome.phase.bad, outcome.phase.total) == (120.0, 6000.0)
    assert outcome.phase.burn_rate == 20.0
    assert outcome.phase.budget_consumed == 20 * 600 / 2_592_000
    assert outcome.slo.budget_consumed == 20 * 600 / 2_592_000  # 0.463 % of the 30-day budget


def test_float_budget_trap_burn_rate_is_exactly_20() -> None:
    outcome = judge_trap(TRAPS["float_budget_trap"])
    assert budget_ratio(TRAPS["float_budget_trap"].slo) == Decimal("0.001")
    assert outcome.phase.burn_rate == 20.0
    assert (120 / 6000) / (1 - 0.999) != 20.0  # the float budget this avoids
    assert ("burn rate", "PASS", "burn rate 20.00 within the limit 20.00") in outcome.slo.checks


def test_client_server_disagreement_is_noted() -> None:
    outcome = judge_trap(TRAPS["client_server_disagree"])
    assert outcome.phase.client_server_difference == pytest.approx((6000 - 6200) / 6200)
    assert outcome.phase.notes == (
        "client and server disagree: Locust counted 6200 requests, Prometheus 6000 (-3.23%)",
    )


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "increase"])
def test_pinned_time(exact: bool) -> None:
    trap = TRAPS["120_in_6000_at_99_9"]
    outcome = judge_trap(Trap(trap.table, trap.verdict, trap.reason, exact=exact))
    received = outcome.prom.queries()
    assert len(received) >= 5
    assert {r.time for r in received} == {END}
    assert outcome.phase.verdict == "FAIL"


# -- latency thresholds ---------------------------------------------------------------------------------

CADDY_BOUNDS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf")


def histogram(name: str, bounds: Sequence[str], labels: str = EDGE) -> list[FakeSeries]:
    """A histogram whose k-th bucket gains (k + 1) * 10 observations per scrape, capped at the +Inf count."""
    top = len(bounds) * 10
    table = [counter(f'{name}_bucket{{{labels},le="{le}"}}', min((k + 1) * 10, top))
             for k, le in enumerate(bounds)]
    return [*table, counter(f"{name}_count{{{labels}}}", top)]


def latency_slo(histogram_name: str, threshold: str) -> InlineSLO:
    return InlineSLO.model_validate({"name": "checkout", "objective": "95", "sli": {
        "latency": {"histogram": histogram_name, "selector": '{job="edge"}', "threshold": threshold}}})


def test_latency_threshold_not_a_bound() -> None:
    with FakePrometheus([*histogram("caddy_http_request_duration_seconds", CADDY_BOUNDS), up()]) as prom:
        client = PromClient(prom.url, backoff_s=0.01)
        sli = sli_queries(latency_slo("caddy_http_request_duration_seconds", "300ms"))
        resolved, problems = resolve_latency_bounds(client, [sli], END, 600.0)
    assert resolved == [sli]
    assert problems == [
        "SLO checkout: threshold 300ms is not a bucket bound of caddy_http_request_duration_seconds "
        "(its bounds are 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, +Inf): choose one of them"]
    assert prom.unsupported == []


@pytest.mark.parametrize(("bounds", "le"), [(("0.5", "1", "+Inf"), "1"), (("0.5", "1.0", "+Inf"), "1.0")],
                         ids=["prometheus2_le_1", "prometheus3_le_1.0"])
def test_latency_le_spellings(bounds: tuple[str, ...], le: str) -> None:
    latency = latency_slo("app_latency_seconds", "1s")
    with FakePrometheus([*histogram("app_latency_seconds", bounds), up()]) as prom:
        client = PromClient(prom.url, backoff_s=0.01)
        resolved, problems = resolve_latency_bounds(client, [sli_queries(latency)], END, 600.0)
        evidence = collect_phase(client, resolved[0], WINDOW, plan_for(resolved[0]), True, None)
    assert problems == []
    assert resolved[0].good == f'app_latency_seconds_bucket{{job="edge",le="{le}"}}'
    assert evidence.good is not None
    # 20 of 30 observations per scrape are under 1 s, over the 120 scrapes of the window
    assert (evidence.good.value, evidence.total.value) == (2400.0, 3600.0)
    assert prom.unsupported == []


# -- the budget gate ---------------------------------------------------------------------------------------

NOW = T0 + LAST * S


def gate_experiment(folder: Path, min_budget_remaining: str | None) -> Path:
    hypothesis: dict[str, Any] = {"slo": "checkout"}
    if min_budget_remaining is not None:
        hypothesis["min_budget_remaining"] = min_budget_remaining
    doc = {
        "apiVersion": "harness/v1", "kind": "Experiment", "metadata": {"name": "gate"},
        # the gate reads the SLO's history: the user's own Prometheus (the local one starts empty)
        "target": {"platform": "external"}, "prometheus": {"url": "http://127.0.0.1:9"},
        "slos": [{"name": "checkout", "objective": 99.9, "sli": {"ratio": {"bad": BAD, "total": TOTAL}}}],
        "load": {"profile": "shop-steady", "host": "http://127.0.0.1:9"}, "hypothesis": [hypothesis],
    }
    path = folder / "gate.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def gate_prom() -> Iterator[FakePrometheus]:
    with FakePrometheus() as prom:
        yield prom


def run_gate(prom: FakePrometheus, table: Sequence[FakeSeries], folder: Path, minimum: str | None) -> None:
    prom.series = list(table)
    loaded = load_experiment(gate_experiment(folder, minimum))
    budget_gate(PromClient(prom.url, backoff_s=0.01), loaded, [sli_queries(loaded.slo("checkout"))], NOW)


def test_budget_gate_refuses_when_too_little_budget_is_left(gate_prom: FakePrometheus,
                                                             tmp_path: Path) -> None:
    # 7000 requests in the period, 5 of them errors: 71.4 % of the 0.1 % budget spent, 28.6 % left
    table = edge({30: 2.0, 90: 3.0})
    with pytest.raises(Refused) as refused:
        run_gate(gate_prom, table, tmp_path, "50%")
    assert str(refused.value) == (
        "budget gate: checkout has 28.57% of its error budget left over its period, "
        "less than min_budget_remaining 50.00%; nothing was started")
    assert [r.time for r in gate_prom.queries()] == [NOW, NOW]
    assert all("[2592000s]" in r.query for r in gate_prom.queries())


def test_budget_gate_refuses_without_data(gate_prom: FakePrometheus, tmp_path: Path) -> None:
    with pytest.raises(Refused) as refused:
        run_gate(gate_prom, [up()], tmp_path, "10%")
    assert str(refused.value) == (
        "budget gate: cannot read the remaining budget of checkout over its 30d period "
        "(no data), and min_budget_remaining is set")


@pytest.mark.parametrize("broken", [math.nan, math.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("side", ["total", "bad"])
def test_budget_gate_refuses_unusable_counts(gate_prom: FakePrometheus, tmp_path: Path, broken: float,
                                            side: str) -> None:
    failed = counter(FAILED, lambda i: 2.0 if i == 30 else 0.0,
                     broken={LAST: broken} if side == "bad" else None)
    served = edge({30: 2.0}, five_xx=False, broken={LAST: broken} if side == "total" else None)
    with pytest.raises(Refused, match="cannot read the remaining budget"):
        run_gate(gate_prom, [*served, failed], tmp_path, "10%")


def test_budget_gate_refuses_on_warnings(gate_prom: FakePrometheus, tmp_path: Path) -> None:
    gate_prom.warn(PARTIAL)
    with pytest.raises(Refused, match="cannot read the remaining budget"):
        run_gate(gate_prom, edge({30: 2.0}), tmp_path, "10%")


def test_budget_gate_lets_the_run_start(gate_prom: FakePrometheus, tmp_path: Path) -> None:
    run_gate(gate_prom, edge({30: 2.0, 90: 3.0}), tmp_path, "20%")  # 28.6 % left
    run_gate(gate_prom, edge(five_xx=False), tmp_path, "99%")  # no error series yet: 100 % left
    assert len(gate_prom.queries()) == 4
    client = PromClient(gate_prom.url, backoff_s=0.01)
    left = remaining_budget(client, sli_queries(slo()), 2_592_000.0, Decimal("0.001"), NOW)
    assert left == 1.0
    assert gate_prom.unsupported == []


def test_budget_gate_without_a_minimum_sends_no_query(gate_prom: FakePrometheus, tmp_path: Path) -> None:
    run_gate(gate_prom, [], tmp_path, None)
    assert gate_prom.received == []
