"""Time to evaluate 20 SLOs x 3 phases (collect_phase + judge_slo) against a live Prometheus.

Target: the 60 (SLO, phase) pairs in under 1 s.

A LocalStack (Caddy edge, fault proxy, 3 shop replicas, a private Prometheus scraping every 1 s) gets
three phases of paced traffic through the edge: baseline, fault (40 ms of latency on replica 0 and 5 %
injected 503s on replica 1), recovery. Then 20 SLIs (ratio and latency, over the edge's and the
shop's metrics) are collected over the three phase windows and judged, N times with exact counting
and N times with increase() counting, interleaved so both see the same machine load. Then the queries
of the last exact pass are sent again in other ways (only the distinct ones, from 4 threads, without
gzip, through a bare http.client) and a floor of as many `vector(1)` queries: where the time goes.

    .venv/bin/python benchmarks/evaluate_slos.py [--quick] [--repeat N]
"""

from __future__ import annotations

import http.client
import json
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

from _common import (
    CATALOG,
    CHECKOUT,
    ITEM,
    Load,
    Spread,
    arguments,
    edge_port,
    local_stack,
    machine_line,
    scratch,
    setup_logging,
    table,
    wait_for_scrape_after,
)

from harness.evidence.collect import Window, collect_phases, preflight, resolve_latency_bounds
from harness.judge.slo import judge_slo
from harness.plan import PhaseSpan, Plan, SliQueries, sli_queries
from harness.platform.local.stack import LocalStack
from harness.prom.client import PromClient, QueryAnswer
from harness.spec.models import EvidencePolicy, Hypothesis, InlineSLO, PhaseName

EDGE_HIST = "caddy_http_request_duration_seconds"
SHOP_HIST = "http_request_duration_seconds"
EDGE = '{server="edge"}'


class CountingClient(PromClient):
    """A PromClient that records the instant queries it sends (collect_phase sends no other kind):
    those asked through the memo, and the raw reads of exact counting, which go past it."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.sent: list[tuple[str, float]] = []

    def query(self, promql: str, at: float) -> QueryAnswer:
        self.sent.append((promql, at))
        return super().query(promql, at)

    def read(self, promql: str, at: float) -> QueryAnswer:
        self.sent.append((promql, at))
        return super().read(promql, at)


@dataclass(frozen=True)
class Case:
    slo: InlineSLO
    hypothesis: Hypothesis
    sli: SliQueries


@dataclass(frozen=True)
class Pass:
    """One evaluation of every (SLO, phase) pair."""

    total_s: float
    collect_s: tuple[float, ...]  # one per pair
    judge_s: float
    sent: tuple[tuple[str, float], ...]  # the instant queries and their evaluation times
    verdicts: tuple[tuple[str, str, str], ...]  # (SLO, verdict, reason)


def _ratio(name: str, objective: str, total: str, *, bad: str | None = None,
           good: str | None = None) -> dict[str, Any]:
    side = {"bad": bad} if bad is not None else {"good": good}
    return {"name": name, "objective": objective, "sli": {"ratio": {**side, "total": total}}}


def _latency(name: str, objective: str, histogram: str, selector: str, threshold: str) -> dict[str, Any]:
    sli = {"histogram": histogram, "selector": selector, "threshold": threshold}
    return {"name": name, "objective": objective, "sli": {"latency": sli}}


def _shop(route: str, extra: str = "") -> str:
    return f'{{job="shop",route="{route}"{extra}}}'


def slo_specs() -> list[dict[str, Any]]:
    """20 SLOs: 9 at the edge (3 ratio, 6 latency), 11 on the shop replicas (4 ratio, 7 latency)."""
    edge_count = f"{EDGE_HIST}_count"
    specs = [
        _ratio("edge-availability", "99", "caddy_http_requests_total" + EDGE,
               bad=f'{edge_count}{{server="edge",code=~"5.."}}'),
        _ratio("edge-get-availability", "99.5", f'{edge_count}{{server="edge",method="GET"}}',
               bad=f'{edge_count}{{server="edge",method="GET",code=~"5.."}}'),
        _ratio("edge-post-availability", "99", f'{edge_count}{{server="edge",method="POST"}}',
               good=f'{edge_count}{{server="edge",method="POST",code="200"}}'),
    ]
    specs += [_latency(f"edge-latency-{ms}ms", "95", EDGE_HIST, EDGE, f"{ms}ms")
              for ms in (10, 25, 50, 100, 250)]
    specs.append(_latency("edge-get-latency-50ms", "99", EDGE_HIST, '{server="edge",method="GET"}', "50ms"))
    for route in ("/api/catalog", "/api/items/:id", "/api/checkout"):
        specs.append(_ratio(f"shop-{route.split('/')[2]}-availability", "99.9",
                            f"http_requests_total{_shop(route)}",
                            bad="http_requests_total" + _shop(route, ',code=~"5.."')))
    specs.append(_ratio("shop-api-success", "99", 'http_requests_total{job="shop",route=~"/api/.*"}',
                        good='http_requests_total{job="shop",route=~"/api/.*",code="200"}'))
    for route, thresholds in (("/api/catalog", ("10ms", "25ms")), ("/api/items/:id", ("5ms", "10ms")),
                              ("/api/checkout", ("25ms", "50ms"))):
        specs += [_latency(f"shop-{route.split('/')[2]}-latency-{t}", "90", SHOP_HIST, _shop(route), t)
                  for t in thresholds]
    api = '{job="shop",route=~"/api/.*"}'
    specs.append(_latency("shop-api-latency-100ms", "99", SHOP_HIST, api, "100ms"))
    return specs


def generate_traffic(stack: LocalStack, phase_s: float) -> list[Window]:
    """Paced traffic through the edge over three phases; faults on in the middle one."""
    load = Load(edge_port(stack), [CATALOG, CATALOG, CATALOG, ITEM, CHECKOUT], threads=4, rate_per_thread=25)
    proxy = stack.fault_proxy
    windows = []
    load.start()
    try:
        for phase in ("baseline", "fault", "recovery"):
            start = time.time()
            if phase == "fault":
                proxy.put("bench-latency", {"kind": "latency", "delay_s": 0.04, "targets": [0]})
                proxy.put("bench-errors", {"kind": "http-error", "rate": 0.05, "status": 503, "targets": [1]})
            time.sleep(phase_s)
            windows.append(Window(phase, start, time.time()))
            for name in ("bench-latency", "bench-errors"):
                proxy.delete(name)
    finally:
        outcomes = load.stop()
    statuses = Counter(o.status for o in outcomes)
    print(f"traffic: {len(outcomes)} requests through the edge in {3 * phase_s:g} s, "
          f"statuses {dict(statuses)}")
    return windows


def build_cases(client: PromClient, at: float) -> list[Case]:
    slos = [InlineSLO.model_validate(spec) for spec in slo_specs()]
    slis, invalid = resolve_latency_bounds(client, [sli_queries(s) for s in slos], at, 600.0)
    missing = preflight(client, slis, at, 600.0)
    if invalid or missing:
        raise SystemExit("the SLIs are not usable: " + "; ".join([*invalid, *missing]))
    cases = []
    for slo, sli in zip(slos, slis, strict=True):
        hypothesis = Hypothesis.model_validate({"slo": slo.name, "max_budget_consumed": "5%"})
        cases.append(Case(slo, hypothesis, sli))
    return cases


def evaluate_once(client: CountingClient, cases: list[Case], windows: list[Window], plan: Plan,
                  exact: bool) -> Pass:
    policy = EvidencePolicy()
    sent_before = len(client.sent)
    collect_s: list[float] = []
    started = time.perf_counter()
    with client.memo():  # as the harness judges a run: each distinct (query, time) is asked once
        verdicts = _evaluate_cases(client, cases, windows, plan, exact, policy, collect_s)
    total = time.perf_counter() - started
    judge_s = sum(j for _, _, _, j in verdicts)
    sent = tuple(client.sent[sent_before:])
    return Pass(total, tuple(collect_s), judge_s, sent, tuple(v[:3] for v in verdicts))


def _evaluate_cases(client: CountingClient, cases: list[Case], windows: list[Window], plan: Plan, exact: bool,
                    policy: EvidencePolicy, collect_s: list[float]) -> list[tuple[str, str, str, float]]:
    """As the harness judges a run: every pair collected by collect_phases (a few queries in flight),
    then each SLO judged. collect_s gets the collection time spread evenly over the pairs."""
    began = time.perf_counter()
    evidence = collect_phases(client, [(case.sli, window, None) for case in cases for window in windows], plan, exact)
    collect_s.extend([(time.perf_counter() - began) / len(evidence)] * len(evidence))
    verdicts: list[tuple[str, str, str, float]] = []
    for index, case in enumerate(cases):
        began = time.perf_counter()
        phases = evidence[index * len(windows):(index + 1) * len(windows)]
        judgement = judge_slo(case.slo, case.hypothesis, phases, policy)
        verdicts.append((case.slo.name, judgement.verdict, judgement.reason, time.perf_counter() - began))
    return verdicts


def report(passes: dict[str, list[Pass]], pairs: int) -> None:
    rows = []
    for mode, runs in passes.items():
        totals = Spread.of(p.total_s for p in runs)
        per_pair = Spread.of(p.total_s / pairs * 1000 for p in runs)
        collect = Spread.of(t * 1000 for p in runs for t in p.collect_s)
        judge = Spread.of(p.judge_s * 1000 for p in runs)
        per_query = Spread.of(p.total_s / len(p.sent) * 1000 for p in runs)
        rows.append([mode, len(runs), totals.show("{:.3f}"), per_pair.show(), collect.show(),
                     judge.show("{:.1f}"), f"{len(runs[0].sent)} ({len(set(runs[0].sent))})",
                     f"{len(runs[0].sent) / pairs:.1f}", per_query.show()])
    print(table(["counting", "passes", "total s (min/med/max)", "per pair ms", "collect_phase ms (each pair)",
                 "judge ms/pass", "queries (distinct)", "per pair", "ms/query"], rows))
    for mode, runs in passes.items():
        target = "yes" if Spread.of(p.total_s for p in runs).median < 1.0 else "NO"
        verdicts = Counter(v for _, v, _ in runs[-1].verdicts)
        print(f"{mode}: median total under 1 s: {target}; verdicts {dict(verdicts)}")


def report_verdicts(passes: dict[str, list[Pass]]) -> None:
    exact, increase = passes["exact"][-1].verdicts, passes["increase"][-1].verdicts
    rows = [[name, verdict, other, reason[:90]]
            for (name, verdict, reason), (_, other, _) in zip(exact, increase, strict=True)]
    print(table(["SLO", "exact", "increase", "reason (exact counting, first 90 characters)"], rows, left=4))


IDENTITY = {"Accept-Encoding": "identity"}  # no gzip of each small answer (requests asks for it by default)


@dataclass(frozen=True)
class Way:
    queries: tuple[tuple[str, float], ...]
    workers: int
    transport: str  # "PromClient", "PromClient+identity" or "http.client"


def _sender(url: str, transport: str) -> tuple[Callable[[str, float], object], Callable[[], None]]:
    """(send one query, close) for a transport."""
    if transport != "http.client":
        client = PromClient(url, IDENTITY if transport.endswith("identity") else None)
        return client.query, client.close
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    def send(promql: str, at: float) -> object:
        conn.request("POST", "/api/v1/query", urlencode({"query": promql, "time": f"{at:.3f}"}), headers)
        return json.loads(conn.getresponse().read())

    return send, conn.close


def replay(url: str, way: Way) -> float:
    """Seconds to send these (query, time) pairs again, in one thread or spread over a pool."""
    senders = [_sender(url, way.transport) for _ in range(way.workers)]

    def run(index: int) -> None:
        for promql, at in way.queries[index :: way.workers]:
            senders[index][0](promql, at)

    started = time.perf_counter()
    with ThreadPoolExecutor(way.workers) as pool:
        list(pool.map(run, range(way.workers)))
    elapsed = time.perf_counter() - started
    for _, close in senders:
        close()
    return elapsed


def report_replays(url: str, last: Pass, repeat: int) -> None:
    """The queries of one exact pass, sent differently: where the time goes, and what would help."""
    sent = last.sent
    distinct = tuple(dict.fromkeys(sent))
    floor = (("vector(1)", time.time()),) * len(sent)
    ways = {
        f"as collected: {len(sent)} queries, PromClient, 1 thread": Way(sent, 1, "PromClient"),
        f"distinct only: {len(distinct)}, PromClient, 1 thread": Way(distinct, 1, "PromClient"),
        f"distinct only: {len(distinct)}, PromClient, 4 threads": Way(distinct, 4, "PromClient"),
        f"as collected: {len(sent)}, PromClient + identity encoding": Way(sent, 1, "PromClient+identity"),
        f"as collected: {len(sent)}, http.client": Way(sent, 1, "http.client"),
        f"distinct only: {len(distinct)}, PromClient + identity, 4 threads":
            Way(distinct, 4, "PromClient+identity"),
        f"floor: {len(sent)} x vector(1), PromClient": Way(floor, 1, "PromClient"),
        f"floor: {len(sent)} x vector(1), http.client": Way(floor, 1, "http.client"),
    }
    timings: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeat):
        for name, way in ways.items():
            timings[name].append(replay(url, way))
    rows = [[name, Spread.of(t).show("{:.3f}")] for name, t in timings.items()]
    print(table(["the last exact pass's queries, sent again", "seconds (min/med/max)"], rows))


def main() -> int:
    parser = arguments(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--repeat", type=int, default=None,
                        help="passes per counting method (default 5, quick 3)")
    args = parser.parse_args()
    setup_logging(args.verbose)
    repeat = args.repeat or (3 if args.quick else 5)
    phase_s = 4.0 if args.quick else 8.0
    print(f"evaluate_slos: 20 SLOs x 3 phases, {repeat} passes per counting method\n{machine_line()}")
    with scratch("evaluate") as folder, local_stack(folder / "run") as stack:
        windows = generate_traffic(stack, phase_s)
        client = CountingClient(stack.prometheus_url)
        for job in ("edge", "shop"):
            wait_for_scrape_after(client, job, windows[-1].end + 1.0)
        began = time.perf_counter()
        cases = build_cases(client, time.time())
        print(f"setup (bucket-bound discovery and preflight of {len(cases)} SLIs): "
              f"{time.perf_counter() - began:.3f} s, not included below")
        spans = tuple(PhaseSpan(cast(PhaseName, w.phase), w.start, w.end) for w in windows)
        plan = Plan("bench-evaluate", spans, (), tuple(c.sli for c in cases), scrape_interval_s=1.0,
                    settle_s=3.0, guard_s=0.0)
        passes: dict[str, list[Pass]] = {"exact": [], "increase": []}
        for _ in range(repeat):
            for mode in passes:
                passes[mode].append(evaluate_once(client, cases, windows, plan, exact=mode == "exact"))
        pairs = len(cases) * len(windows)
        print(f"\n{len(cases)} SLOs x {len(windows)} phases = {pairs} pairs per pass "
              f"(phases of {phase_s:g} s, Prometheus scrape interval 1 s)\n")
        report(passes, pairs)
        print()
        report_verdicts(passes)
        print()
        report_replays(stack.prometheus_url, passes["exact"][-1], 1 if args.quick else repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
