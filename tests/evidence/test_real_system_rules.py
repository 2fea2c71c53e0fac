"""The rules that decide on systems the harness did not start, through collect and judge with a fake Prometheus.

Three instances of an app (job "app", instances app0..app2, label node) each serve 10 requests a
second, scraped every 5 s; one 600 s fault window. Each case says what an outage of one instance,
a label typo or a wrong interval must and must not do to the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from harness.evidence.collect import Window, collect_phase, preflight
from harness.evidence.health import ExpectDown
from harness.evidence.interval import Learned, disagreement, learn_interval
from harness.evidence.outages import ExpectedDown
from harness.evidence.phase import ClientCounts
from harness.judge.slo import PhaseJudgement, judge_slo
from harness.judge.verdict import Verdict
from harness.plan import sli_queries
from harness.prom.client import PromClient
from harness.spec.models import EvidencePolicy, Hypothesis, InlineSLO
from tests.fakes.prometheus import FakePrometheus, FakeSeries
from tests.test_evidence_traps import END, IN_WINDOW, LAST, START, T0, WINDOW, S, counter, plan_for, up

PER_SCRAPE = 50.0  # 10 requests a second per instance
INSTANCES = ("app0", "app1", "app2")
ALL_TOTAL = 'http_requests_total{job="app"}'
ALL_BAD = 'http_requests_total{job="app",code="5xx"}'


def labels(node: str) -> str:
    return f'job="app",instance="{node}:8080",node="{node}"'


def instance(node: str, *, restart_at: int | None = None, missing: Sequence[int] = (), last: int = LAST,
             down: Sequence[int] = ()) -> list[FakeSeries]:
    """One instance's counters and its `up`: missing scrapes have no sample, down ones `up` 0 and no sample."""
    gone = set(missing) | set(down)
    served = counter(f'http_requests_total{{{labels(node)},code="2xx"}}', PER_SCRAPE, restart_at=restart_at, last=last)
    errors = counter(f'http_requests_total{{{labels(node)},code="5xx"}}', 0.0, restart_at=restart_at, last=last)
    kept = [FakeSeries(s.labels, tuple(p for p in s.points if round((p[0] - T0) / S) not in gone))
            for s in (served, errors)]
    return [*kept, up(labels(node), down=down, missing=missing)]


def app(**changed: dict[str, object]) -> tuple[FakeSeries, ...]:
    table: list[FakeSeries] = []
    for node in INSTANCES:
        table += instance(node, **changed.get(node, {}))  # type: ignore[arg-type]
    return tuple(table)


def slo(objective: str = "99.9", **ratio: str) -> InlineSLO:
    return InlineSLO.model_validate({"name": "app", "objective": objective,
                                     "sli": {"ratio": ratio or {"bad": ALL_BAD, "total": ALL_TOTAL}}})


@dataclass(frozen=True)
class Case:
    table: tuple[FakeSeries, ...]
    verdict: Verdict
    says: tuple[str, ...]  # texts the reason or the notes must contain
    slo: InlineSLO = field(default_factory=slo)
    expected: tuple[ExpectDown, ...] = ()
    client: ClientCounts | None = None


def judge(case: Case, window: Window = WINDOW) -> PhaseJudgement:
    sli = sli_queries(case.slo)
    with FakePrometheus(case.table) as prom:
        client = PromClient(prom.url, backoff_s=0.01)
        evidence = collect_phase(client, sli, window, plan_for(sli), True, case.client, case.expected)
        client.close()
    assert prom.unsupported == []
    hypothesis = Hypothesis.model_validate({"slo": "app", "phases": ["fault"]})
    return judge_slo(case.slo, hypothesis, [evidence], EvidencePolicy()).phases[0]


DOWN_AT_END = list(range(121, LAST + 1))  # app2 goes down at scrape 121 and is not back by the window's end
PAUSED_FROM = T0 + 120.5 * S  # the pause fault starts between scrape 120 and 121

CASES: dict[str, Case] = {
    "other_instance_down_sli_on_untouched_node": Case(
        app(app2={"down": range(40, 70), "restart_at": 70}), "PASS", ("within the budget",),
        slo=slo(bad='http_requests_total{job="app",node="app1",code="5xx"}',
                total='http_requests_total{job="app",node="app1"}')),
    "gap_without_reset_is_a_note": Case(
        app(app2={"missing": range(40, 70)}), "PASS", ("counters continued across the gap, so nothing is missing",)),
    "paused_instance_back_in_window": Case(
        app(app2={"down": range(40, 46)}), "PASS", ("target app2:8080 down", "nothing is missing")),
    "restart_bound_cannot_change_a_loose_objective": Case(
        app(app2={"down": range(40, 42), "restart_at": 42}), "PASS",
        ("cannot change the verdict", "restarted (a counter reset across the gap)"), slo=slo("95")),
    "restart_bound_can_change_a_tight_objective": Case(
        app(app2={"down": range(40, 42), "restart_at": 42}), "INCONCLUSIVE",
        ("restarted (a counter reset across the gap): up to 150 events unseen",
         "the phase could be FAIL", "measure the SLI where no fault takes its targets down")),
    "down_to_the_end_without_declaration": Case(
        app(app2={"down": DOWN_AT_END}), "INCONCLUSIVE", ("not back by the window's end: up to 625 events unseen",),
        slo=slo("99")),
    "down_to_the_end_declared_by_the_fault": Case(
        app(app2={"down": DOWN_AT_END}), "PASS",
        ("during fault pause-app2", "up to 25 events unseen (10.00/s x 2.5s", "cannot change the verdict"),
        slo=slo("99"),
        expected=(ExpectDown({"instance": "app2:8080"}, ExpectedDown("pause-app2", PAUSED_FROM, END)),)),
    "declared_down_target_does_not_excuse_another": Case(
        app(app2={"down": DOWN_AT_END}), "INCONCLUSIVE", ("up to 625 events unseen",), slo=slo("99"),
        expected=(ExpectDown({"instance": "app1:8080"}, ExpectedDown("pause-app1", PAUSED_FROM, END)),)),
    "client_failures_the_sli_does_not_count": Case(
        app(), "INCONCLUSIVE", ("contradicting evidence: the load saw 541 of 18000 requests fail",
                                "check its label values"),
        client=ClientCounts(18000, 541, 30.0, 30.0)),
    "client_failures_within_the_edge_slack": Case(
        app(), "PASS", ("within the budget",), client=ClientCounts(18000, 2, 30.0, 30.0)),
}


@pytest.mark.parametrize("case_id", list(CASES))
def test_rule(case_id: str) -> None:
    case = CASES[case_id]
    phase = judge(case)
    shown = " | ".join((phase.reason, *phase.notes))
    assert phase.verdict == case.verdict, shown
    for text in case.says:
        assert text in shown


def test_total_is_counted_exactly_across_a_pause() -> None:
    phase = judge(CASES["paused_instance_back_in_window"])
    assert phase.total == 3 * PER_SCRAPE * len(IN_WINDOW)
    assert phase.missing_events == 0.0


def test_the_bound_is_the_rate_times_the_unseen_time() -> None:
    # app2 serves 10/s; last seen at scrape 39, back (restarted) at scrape 42: 15 s unseen
    phase = judge(CASES["restart_bound_can_change_a_tight_objective"])
    assert phase.missing_events == pytest.approx(10.0 * 15.0)


@pytest.mark.parametrize(("value", "near"), [("5XX", "5xx"), ("5x", "5xx"), ("2xxx", "2xx")],
                         ids=["upper_case", "missing_letter", "extra_letter"])
def test_label_value_typo_names_the_near_miss(value: str, near: str) -> None:
    typo = sli_queries(slo(bad=f'http_requests_total{{job="app",code="{value}"}}', total=ALL_TOTAL))
    with FakePrometheus(app()) as prom:
        problems = preflight(PromClient(prom.url, backoff_s=0.01), [typo], END, 600.0)
    assert len(problems) == 1
    assert f'matches code="{value}", which http_requests_total never had' in problems[0]
    assert f'did you mean "{near}"?' in problems[0]
    assert prom.unsupported == []


@pytest.mark.parametrize("bad", ['http_requests_total{job="app",code="503"}',
                                 'http_requests_total{job="app",code=~"5.."}'],
                         ids=["value_not_seen_yet", "regex_matching_nothing_yet"])
def test_a_value_not_seen_yet_without_a_near_miss_is_not_refused(bad: str) -> None:
    sli = sli_queries(slo(bad=bad, total=ALL_TOTAL))
    with FakePrometheus(app()) as prom:
        assert preflight(PromClient(prom.url, backoff_s=0.01), [sli], END, 600.0) == []


def test_a_case_folded_regex_is_a_near_miss() -> None:
    sli = sli_queries(slo(bad='http_requests_total{job="app",code=~"5XX|4XX"}', total=ALL_TOTAL))
    with FakePrometheus(app()) as prom:
        problems = preflight(PromClient(prom.url, backoff_s=0.01), [sli], END, 600.0)
    assert len(problems) == 1 and 'did you mean "5xx"?' in problems[0]


def test_interval_learned_from_the_targets_api() -> None:
    with FakePrometheus(app()) as prom:
        prom.targets = [{"labels": {"job": "app", "instance": f"{n}:8080"}, "scrapeInterval": "5s"}
                        for n in INSTANCES]
        client = PromClient(prom.url, backoff_s=0.01)
        learned = learn_interval(client, [ALL_TOTAL], END, client.targets())
    assert learned == Learned(5.0, "the targets API (job app)")


def test_interval_learned_from_sample_spacing_without_a_targets_api() -> None:
    with FakePrometheus(app()) as prom:
        learned = learn_interval(PromClient(prom.url, backoff_s=0.01), [ALL_TOTAL], END, None)
    assert learned == Learned(5.0, "the spacing of the raw samples")


def test_interval_cannot_be_learned_before_any_series() -> None:
    with FakePrometheus(()) as prom:
        assert learn_interval(PromClient(prom.url, backoff_s=0.01), [ALL_TOTAL], END, None) is None


def test_a_declared_interval_that_prometheus_contradicts_is_a_warning_naming_both() -> None:
    warning = disagreement(1.0, Learned(5.0, "the targets API (job app)"))
    assert warning is not None
    assert warning.startswith("prometheus.scrape_interval 1s disagrees with the 5s shown by the targets API")
    assert disagreement(5.0, Learned(5.0, "x")) is None


def test_the_window_length_rule_reads_the_planned_length_not_milliseconds() -> None:
    case = Case(app(), "PASS", ())
    # measured 9.99 s against 2 x 5 s: the planned 10 s decides, so the rule does not flip on milliseconds
    phase = judge(case, Window("fault", START, START + 9.99, nominal_s=10.0))
    assert "shorter than two scrape intervals" not in phase.reason
    short = judge(case, Window("fault", START, START + 9.99, nominal_s=9.0))
    assert "the fault window (9s) is shorter than two scrape intervals (5s)" in short.reason


def test_a_misspelt_metric_name_is_refused_with_the_near_name() -> None:
    typo = sli_queries(slo(bad=ALL_BAD, total='http_request_total{job="app"}'))
    with FakePrometheus(app()) as prom:
        problems = preflight(PromClient(prom.url, backoff_s=0.01), [typo], END, 600.0)
    assert problems == ["SLO app: total metric http_request_total does not exist in the last 600s: misspelt? "
                        "did you mean http_requests_total?"]


def test_a_metric_with_no_near_name_may_just_not_exist_yet() -> None:
    fresh = sli_queries(slo(bad='orders_failed_total{job="app"}', total=ALL_TOTAL))
    with FakePrometheus(app()) as prom:
        problems = preflight(PromClient(prom.url, backoff_s=0.01), [fresh], END, 600.0)
    assert problems == ["SLO app: bad metric orders_failed_total has no series in the last 600s "
                        "(misspelt, renamed, or not scraped?)"]
