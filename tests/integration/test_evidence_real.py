"""collect_phase + judge_slo against a real Prometheus serving a TSDB whose true counts are known.

Three 300 s phases of an edge with two replicas, scraped every 5 s: a clean baseline, a fault in
which replica b is killed (its counter resets) and its error counter is born with the first errors,
and a recovery with 3 errors in 6000 requests. The counters are written as OpenMetrics and turned
into TSDB blocks by `promtool tsdb create-blocks-from openmetrics`; the same table also feeds the
fake Prometheus of the fast tests, whose answers are checked here against the real ones.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from harness.evidence.budget import remaining_budget
from harness.evidence.collect import Window, collect_phase, peak_burn_rate, resolve_latency_bounds
from harness.evidence.phase import PhaseEvidence
from harness.judge.slo import judge_slo
from harness.plan import Plan, sli_queries
from harness.prom.client import PromClient, QueryAnswer
from harness.prom.server import PrometheusServer
from harness.spec.models import EvidencePolicy, Hypothesis, InlineSLO
from tests.fakes.prometheus import FakePrometheus, FakeSeries, Received, series

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0
S = 5.0
LAST = 200  # scrapes 0 .. 200: T0 .. T0 + 1000 s
PER_SCRAPE = 50.0  # requests per replica between two scrapes: 6000 per phase for the edge
WINDOWS = (  # edges between scrapes, as in real runs
    Window("baseline", T0 + 32.5, T0 + 332.5),
    Window("fault", T0 + 332.5, T0 + 632.5),
    Window("recovery", T0 + 632.5, T0 + 932.5),
)
KILL = 90  # replica b restarts at this scrape (in the fault phase) having lost 30 in-flight requests
BORN = 100  # b's error counter appears at this scrape with its first 30 errors, then 5 per scrape
RECOVERY_ERRORS = {140: 1.0, 150: 1.0, 160: 1.0}  # replica a, in the recovery phase


@dataclass(frozen=True)
class Counter:
    """A counter's scrapes: (scrape index, events since the previous scrape, exposed value)."""

    labels: str
    scrapes: tuple[tuple[int, float, float], ...]

    def events_in(self, window: Window) -> float:
        """What Prometheus can see between the last scrapes at or before the window's start and end."""
        return sum(events for i, events, _ in self.scrapes if window.start < T0 + i * S <= window.end)

    def table(self) -> FakeSeries:
        return series(f"app_requests_total{{{self.labels}}}", [(T0 + i * S, v) for i, _, v in self.scrapes])


def counter(labels: str, events: Callable[[int], float], *, first: int = 0,
            restart_at: int | None = None) -> Counter:
    value, scrapes = 0.0, []
    for i in range(first, LAST + 1):
        new = 0.0 if i == 0 else events(i)
        value = new if i == restart_at else value + new
        scrapes.append((i, new, value))
    return Counter(labels, tuple(scrapes))


def b_errors(i: int) -> float:
    return 30.0 if i == BORN else 5.0 if BORN < i < BORN + 20 else 0.0


def b_served(i: int) -> float:
    return 20.0 if i == KILL else PER_SCRAPE - b_errors(i)


COUNTERS = (
    counter('job="edge",instance="a",code="200"', lambda i: PER_SCRAPE - RECOVERY_ERRORS.get(i, 0.0)),
    counter('job="edge",instance="a",code="500"', lambda i: RECOVERY_ERRORS.get(i, 0.0)),
    counter('job="edge",instance="b",code="200"', b_served, restart_at=KILL),
    counter('job="edge",instance="b",code="500"', b_errors, first=BORN),
)
SCRAPES = range(LAST + 1)
UP = tuple(series(f'up{{job="edge",instance="{x}"}}', [(T0 + i * S, 1.0) for i in SCRAPES]) for x in "ab")
# Per scrape: 100 observations, 60 under 0.25 s, 90 under 0.5 s, 97 under 1 s (Prometheus 3 spelling "1.0").
BUCKETS = (("0.25", 60.0), ("0.5", 90.0), ("1.0", 97.0), ("+Inf", 100.0))
HISTOGRAM = (
    *(series(f'app_latency_seconds_bucket{{job="edge",le="{le}"}}', [(T0 + i * S, n * i) for i in SCRAPES])
      for le, n in BUCKETS),
    series('app_latency_seconds_count{job="edge"}', [(T0 + i * S, 100.0 * i) for i in SCRAPES]),
)
TABLE = (*(c.table() for c in COUNTERS), *UP, *HISTOGRAM)
SLO = InlineSLO.model_validate({"name": "edge-availability", "objective": "99.9", "sli": {"ratio": {
    "bad": 'app_requests_total{job="edge",code=~"5.."}', "total": 'app_requests_total{job="edge"}'}}})
SLI = sli_queries(SLO)
LATENCY = sli_queries(InlineSLO.model_validate({"name": "edge-latency", "objective": "95", "sli": {
    "latency": {"histogram": "app_latency_seconds", "selector": '{job="edge"}', "threshold": "1s"}}}))
PLAN = Plan("real-tsdb", phases=(), faults=(), slis=(SLI,), scrape_interval_s=S, settle_s=0.0, guard_s=0.0)


def truth(window: Window) -> tuple[float, float]:
    """(bad, total) as generated."""
    total = sum(c.events_in(window) for c in COUNTERS)
    bad = sum(c.events_in(window) for c in COUNTERS if 'code="500"' in c.labels)
    return bad, total


def openmetrics(table: tuple[FakeSeries, ...]) -> str:
    """Counters and gauges series by series; a histogram's samples by time, all its series at each time."""
    lines: list[str] = []
    for family, kind in (("app_requests", "counter"), ("up", "gauge"), ("app_latency_seconds", "histogram")):
        lines.append(f"# TYPE {family} {kind}")
        members = [s for s in table if _family(s.labels["__name__"]) == family]
        samples = [(t, k, s) for k, s in enumerate(members) for t, _ in s.points]
        if kind == "histogram":
            samples.sort(key=lambda item: (item[0], item[1]))
        for t, _, item in samples:
            labels = ",".join(f'{k}="{v}"' for k, v in item.labels.items() if k != "__name__")
            lines.append(f"{item.labels['__name__']}{{{labels}}} {dict(item.points)[t]:g} {t:.0f}")
    return "\n".join([*lines, "# EOF"]) + "\n"


def _family(name: str) -> str:
    for suffix in ("_total", "_bucket", "_count"):
        name = name.removesuffix(suffix)
    return name


@pytest.fixture
def real(tmp_path: Path) -> Iterator[PromClient]:
    data = tmp_path / "data.om"
    data.write_text(openmetrics(TABLE))
    tsdb = tmp_path / "tsdb"
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(data), str(tsdb)],
                   check=True, capture_output=True, timeout=60)
    with PrometheusServer(tmp_path / "server", targets=(), storage_path=tsdb, retention="100y") as server:
        client = PromClient(server.url)
        client.check_reachable()
        yield client
        client.close()


def collect_all(client: PromClient) -> list[PhaseEvidence]:
    return [collect_phase(client, SLI, window, PLAN, True, None) for window in WINDOWS]


def test_generated_truth_is_what_the_phases_need() -> None:
    assert [truth(w) for w in WINDOWS] == [(0.0, 6000.0), (125.0, 5970.0), (3.0, 6000.0)]


def test_collect_and_judge_report_the_true_counts_and_verdicts(real: PromClient) -> None:
    evidence = collect_all(real)
    judged = judge_slo(SLO, Hypothesis(slo=SLO.name), evidence, EvidencePolicy())
    for phase, window in zip(judged.phases, WINDOWS, strict=True):
        bad, total = truth(window)
        assert (phase.phase, phase.bad, phase.good, phase.total) == (window.phase, bad, total - bad, total)
        assert phase.sli == (total - bad) / total
    assert [p.verdict for p in judged.phases] == ["PASS", "FAIL", "INCONCLUSIVE"]
    assert judged.verdict == "FAIL"
    fault = judged.phases[1]
    assert fault.burn_rate == pytest.approx((125 / 5970) / 0.001, rel=1e-12)
    assert fault.notes == ("1 counter reset(s) in the window, counted exactly",
                           "1 series born inside the window")
    born = {"__name__": "app_requests_total", "code": "500", "instance": "b", "job": "edge"}
    assert fault.born_in_window == (born,)
    assert judged.phases[2].reason == ("3 bad of 6000 events: interval [0.017 %, 0.147 %] (Wilson, z=1.96) "
                                       "straddles the budget 0.100 %; more events are needed to decide")
    assert all(e.telemetry_problems == () for e in evidence)


def exercise(client: PromClient) -> list[PhaseEvidence]:
    """Every kind of query the harness sends: exact and increase counting, latency bounds and
    quantiles, the peak burn rate (a range query) and the remaining budget."""
    found = collect_all(client)
    found.append(collect_phase(client, SLI, WINDOWS[1], PLAN, False, None))
    resolved, problems = resolve_latency_bounds(client, [LATENCY], WINDOWS[1].end, 600.0)
    assert problems == []
    assert resolved[0].good == 'app_latency_seconds_bucket{job="edge",le="1.0"}'
    found.append(collect_phase(client, resolved[0], WINDOWS[1], PLAN, True, None))
    assert peak_burn_rate(client, SLI, 0.001, WINDOWS[0].start, WINDOWS[2].end, 60.0, S) is not None
    assert remaining_budget(client, SLI, 2_592_000.0, Decimal("0.001"), T0 + LAST * S) is not None
    return found


def test_the_fake_answers_like_the_real_prometheus(real: PromClient) -> None:
    with FakePrometheus(TABLE) as prom:
        fake = PromClient(prom.url)
        fake_evidence = exercise(fake)
        assert prom.unsupported == []
        received = prom.queries()
        for item in received:
            mine, theirs = (_flat(_ask(c, item)) for c in (fake, real))
            assert mine.keys() == theirs.keys(), item.query
            assert all(_close(mine[k], theirs[k]) for k in mine), (item.query, mine, theirs)
    assert len(received) >= 25
    assert any(r.path == "/api/v1/query_range" for r in received)
    assert any(r.query.startswith("histogram_quantile(") for r in received)
    real_evidence = exercise(real)
    assert fake_evidence == real_evidence
    latency = real_evidence[-1]
    assert latency.good is not None
    assert (latency.good.value, latency.total.value) == (97.0 * 60, 6000.0)  # le="1" found as "1.0"


def _ask(client: PromClient, item: Received) -> QueryAnswer:
    if item.path == "/api/v1/query_range":
        assert item.start is not None and item.end is not None and item.step is not None
        return client.query_range(item.query, item.start, item.end, item.step)
    assert item.time is not None
    return client.query(item.query, item.time)


def _flat(answer: QueryAnswer) -> dict[tuple[str, float | None], float]:
    """An answer as {(labels, sample time): value}."""
    if answer.result_type == "vector":
        return {(_show(s.labels), None): s.value for s in answer.vector}
    if answer.result_type == "matrix":
        return {(_show(s.labels), t): v for s in answer.matrix for t, v in s.points}
    return {("scalar", None): answer.scalar if answer.scalar is not None else math.nan}


def _close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _show(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
