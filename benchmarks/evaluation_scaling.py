"""Collect + judge time for 20 and 100 SLOs x 3 phases, with phases of 1 min, 10 min and 1 h.

No live load: `_synthetic` writes 3.2 hours of counters at a 1 s step (6 services x 3 instances x 2
routes: requests by code, latency histograms with `le` buckets, `up`; three counter resets and three
error counters born mid-run) as OpenMetrics; `promtool tsdb create-blocks-from openmetrics` turns them
into TSDB blocks and a private Prometheus (free loopback port) serves them. For each SLO count, phase
length and counting method (exact, increase()), every (SLO, phase) pair is collected with
collect_phases and each SLO judged with judge_slo, as the harness judges a run, N passes interleaved.
Exact counting reads raw samples, whose number grows with the window: the tables show how many
samples each pair reads, and every count is checked against the synthetic truth. Last, exact counting
alone over the 1-hour phases with the raw samples read in chunks of 10, 30 and 60 minutes: what the
chunk length costs, and that the counts do not change. `--quick`: 20 SLOs and one pass each.

    .venv/bin/python benchmarks/evaluation_scaling.py [--quick] [--repeat N]
"""

from __future__ import annotations

import random
import resource
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from _common import Spread, arguments, leftovers, machine_line, setup_logging, table
from _synthetic import (
    HISTOGRAM,
    JOBS,
    REQUESTS,
    ROUTES,
    SPAN_S,
    T0,
    Match,
    Synthetic,
    openmetrics_lines,
    synthesise,
    windows_for,
)

from harness.evidence.collect import Window, collect_phases, preflight, resolve_latency_bounds
from harness.evidence.counting import Count
from harness.evidence.phase import PhaseEvidence
from harness.evidence.queries import count_exact
from harness.judge.slo import judge_slo
from harness.plan import PhaseSpan, Plan, SliQueries, sli_queries
from harness.prom.client import PromClient, QueryAnswer
from harness.prom.server import PrometheusServer
from harness.spec.models import EvidencePolicy, Hypothesis, InlineSLO, PhaseName

LENGTHS_S = (60, 600, 3600)
CHUNKS_S = (600.0, 1800.0, 3600.0)  # the last is count_exact's default: an hour is read at once
LATENCY_OBJECTIVES = {"50ms": "50", "100ms": "80", "250ms": "90", "500ms": "98", "1s": "99.5"}
LE_OF = {"50ms": "0.05", "100ms": "0.1", "250ms": "0.25", "500ms": "0.5", "1s": "1"}


class CountingClient(PromClient):
    """A PromClient that records every query asked (answered by the memo or not) and every raw read
    exact counting makes past the memo, with the raw samples of each answer."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.sent: list[tuple[str, float, int]] = []  # (query, time, raw samples in the answer)

    def query(self, promql: str, at: float) -> QueryAnswer:
        answer = super().query(promql, at)
        self.sent.append((promql, at, sum(len(s.points) for s in answer.matrix)))
        return answer

    def read(self, promql: str, at: float) -> QueryAnswer:
        answer = super().read(promql, at)
        self.sent.append((promql, at, sum(len(s.points) for s in answer.matrix)))
        return answer


@dataclass(frozen=True)
class Case:
    slo: InlineSLO
    hypothesis: Hypothesis
    sli: SliQueries
    total: Match
    side: Match  # the good or bad side, whichever the SLI has


@dataclass(frozen=True)
class Pass:
    total_s: float
    judge_s: float
    sent: tuple[tuple[str, float, int], ...]
    evidence: tuple[PhaseEvidence, ...]
    verdicts: tuple[str, ...]

    def fetched(self) -> dict[tuple[str, float], int]:
        """Samples of each distinct (query, time): the memo asks each once, so these were read."""
        return {(q, at): samples for q, at, samples in self.sent}


def slo_candidates() -> list[tuple[dict[str, Any], Match, Match]]:
    """19 SLOs per service (4 ratio, 15 latency) as (spec, total, good-or-bad side), in a seeded order."""
    found = []
    for job in JOBS:
        for route in (*ROUTES, None):
            where = {"job": job} | ({"route": route} if route else {})
            tag = f"{job}{route.replace('/', '-') if route else ''}"
            total, bad = Match(REQUESTS, where), Match(REQUESTS, where, errors_only=True)
            found.append(({"name": f"{tag}-availability", "objective": "99",
                           "sli": {"ratio": {"bad": bad.selector(), "total": total.selector()}}}, total, bad))
            for threshold, objective in LATENCY_OBJECTIVES.items():
                selector = Match("", where).selector()
                latency = {"histogram": HISTOGRAM, "selector": selector, "threshold": threshold}
                found.append(({"name": f"{tag}-latency-{threshold}", "objective": objective,
                               "sli": {"latency": latency}},
                              Match(f"{HISTOGRAM}_count", where),
                              Match(f"{HISTOGRAM}_bucket", where | {"le": LE_OF[threshold]})))
        total, good = Match(REQUESTS, {"job": job}), Match(REQUESTS, {"job": job, "code": "200"})
        found.append(({"name": f"{job}-success", "objective": "99",
                       "sli": {"ratio": {"good": good.selector(), "total": total.selector()}}}, total, good))
    random.Random(3).shuffle(found)
    return found


def build_cases(client: PromClient, count: int, at: float) -> list[Case]:
    chosen = slo_candidates()[:count]
    slos = [InlineSLO.model_validate(spec) for spec, _, _ in chosen]
    slis, invalid = resolve_latency_bounds(client, [sli_queries(s) for s in slos], at, 600.0)
    missing = preflight(client, slis, at, 600.0)
    if invalid or missing:
        raise SystemExit("the SLIs are not usable: " + "; ".join([*invalid, *missing]))
    hypotheses = [Hypothesis.model_validate({"slo": s.name, "max_budget_consumed": "5%"}) for s in slos]
    return [Case(slo, h, sli, total, side)
            for slo, h, sli, (_, total, side) in zip(slos, hypotheses, slis, chosen, strict=True)]


def phase_windows(length_s: int) -> tuple[list[Window], Plan]:
    windows = [Window(phase, start, end, float(length_s)) for phase, start, end in windows_for(length_s)]
    spans = tuple(PhaseSpan(cast(PhaseName, w.phase), w.start, w.end) for w in windows)
    return windows, Plan("bench-scaling", spans, (), (), scrape_interval_s=1.0, settle_s=3.0, guard_s=0.0)


def evaluate_once(client: CountingClient, cases: Sequence[Case], length_s: int, exact: bool) -> Pass:
    """As the harness judges a run: every pair collected by collect_phases, then each SLO judged."""
    windows, plan = phase_windows(length_s)
    before = len(client.sent)
    policy = EvidencePolicy()
    started = time.perf_counter()
    with client.memo():
        evidence = collect_phases(client, [(c.sli, w, None) for c in cases for w in windows], plan, exact)
        judging = time.perf_counter()
        verdicts = [judge_slo(c.slo, c.hypothesis, evidence[i * 3:(i + 1) * 3], policy).verdict
                    for i, c in enumerate(cases)]
        judged = time.perf_counter()
    ended = time.perf_counter()  # leaving the memo frees every answer read: part of the cost
    sent = tuple(client.sent[before:])
    return Pass(ended - started, judged - judging, sent, tuple(evidence), tuple(verdicts))


Key = tuple[int, int, str]  # (SLOs, phase length s, counting)


def measure(client: CountingClient, cases: Sequence[Case], counts: Sequence[int],
            repeat: int) -> dict[Key, list[Pass]]:
    """Every (SLO count, phase length, counting) `repeat` times, interleaved so all see the same load."""
    passes: dict[Key, list[Pass]] = {(n, length, mode): [] for n in counts for length in LENGTHS_S
                                     for mode in ("exact", "increase")}
    for round_ in range(repeat):
        for key, runs in passes.items():
            n, length, mode = key
            runs.append(evaluate_once(client, cases[:n], length, exact=mode == "exact"))
            print(f"  pass {round_ + 1}/{repeat}: {n} SLOs, {length // 60} min, {mode}: "
                  f"{runs[-1].total_s:.2f} s")
    return passes


def _samples_split(p: Pass) -> tuple[int, int]:
    """(samples of the SLIs' own series, samples of `up`) read by one pass."""
    fetched = p.fetched()
    up = sum(samples for (q, _), samples in fetched.items() if q.startswith("up{"))
    return sum(fetched.values()) - up, up


def report_times(passes: dict[Key, list[Pass]]) -> None:
    rows = []
    for (n, length, mode), runs in passes.items():
        pairs = n * 3
        totals = Spread.of(p.total_s for p in runs)
        counters, up = _samples_split(runs[-1])
        fetched = runs[-1].fetched()
        rows.append([n, f"{length // 60} min", mode, len(runs), totals.show("{:.3f}"),
                     f"{totals.median / pairs * 1000:.1f}", f"{len(runs[-1].sent)} ({len(fetched)})",
                     f"{counters / pairs:,.0f}", f"{up / pairs:,.0f}",
                     f"{Spread.of(p.judge_s * 1000 for p in runs).median:.1f}"])
    print(table(["SLOs", "phases", "counting", "passes", "collect+judge s (min/med/max)", "ms/pair",
                 "queries (distinct)", "SLI samples/pair", "up samples/pair",
                 "judge ms"], rows, left=3))


def _sides(case: Case, evidence: PhaseEvidence) -> list[tuple[Count | None, Match]]:
    side = evidence.good if evidence.good is not None else evidence.bad
    return [(evidence.total, case.total), (side, case.side)]


def report_exactness(passes: dict[Key, list[Pass]], cases: Sequence[Case], series: list[Synthetic]) -> None:
    """Every counted side of the last pass of each (phase length, counting) against the synthetic truth."""
    rows = []
    for (n, length, mode), runs in passes.items():
        if n != max(k[0] for k in passes):
            continue
        errors, missing, truth_sum, counted_sum = [], 0, 0, 0.0
        for index, evidence in enumerate(runs[-1].evidence):
            case = cases[index // 3]
            for count, match in _sides(case, evidence):
                truth = match.truth(series, evidence.start, evidence.end)
                if count is None or count.value is None:
                    missing += 1
                    continue
                errors.append((count.value - truth, truth))
                truth_sum, counted_sum = truth_sum + truth, counted_sum + count.value
        exact = sum(1 for e, _ in errors if e == 0)
        worst = max(errors, key=lambda e: abs(e[0]) / max(e[1], 1))
        summed = (counted_sum - truth_sum) / truth_sum * 100
        rows.append([f"{length // 60} min", mode, len(errors) + missing, exact, missing, f"{worst[0]:+.1f}",
                     f"{worst[0] / max(worst[1], 1) * 100:+.3f} %", f"{summed:+.4f} %"])
    print(table(["phases", "counting", "sides counted", "equal to truth", "no value", "worst error (events)",
                 "worst error", "error of all summed"], rows, left=2))


def report_verdicts(passes: dict[Key, list[Pass]]) -> None:
    for (n, length, mode), runs in passes.items():
        if mode == "exact":
            other = passes[(n, length, "increase")][-1].verdicts
            differing = sum(a != b for a, b in zip(runs[-1].verdicts, other, strict=True))
            print(f"{n} SLOs, {length // 60} min: exact {dict(Counter(runs[-1].verdicts))}, "
                  f"increase() {dict(Counter(other))}, differing {differing}")


@dataclass(frozen=True)
class ChunkRun:
    seconds: float
    reads: tuple[int, ...]  # samples of each read
    counts: tuple[float | None, ...]


def count_sides(client: CountingClient, cases: Sequence[Case], chunk_s: float) -> ChunkRun:
    """Exact counting alone of every distinct SLI side over the three 1-hour phases, read chunk_s at a
    time, 4 at once as collect_phases does."""
    windows, plan = phase_windows(3600)
    texts = [text for c in cases for text in (c.sli.total, c.sli.good, c.sli.bad) if text is not None]
    sides = list(dict.fromkeys((text, w.start, w.end) for text in texts for w in windows))

    def count(side: tuple[str, float, float]) -> float | None:
        return count_exact(client, side[0], side[1], side[2], plan.lookback_s, chunk_s=chunk_s).value

    before = len(client.sent)
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        counts = tuple(pool.map(count, sides))
    elapsed = time.perf_counter() - started
    return ChunkRun(elapsed, tuple(samples for _, _, samples in client.sent[before:]), counts)


def report_chunks(client: CountingClient, cases: Sequence[Case], repeat: int) -> None:
    """What the chunk length costs: the same counts, more reads, a smaller largest answer."""
    runs: dict[float, list[ChunkRun]] = {chunk_s: [] for chunk_s in CHUNKS_S}
    for _ in range(repeat):
        for chunk_s, found in runs.items():
            found.append(count_sides(client, cases, chunk_s))
    whole = runs[max(CHUNKS_S)][-1].counts
    rows = [[f"{chunk_s / 60:g} min", len(found), Spread.of(r.seconds for r in found).show("{:.3f}"),
             len(found[-1].reads), f"{max(found[-1].reads):,}", "yes" if found[-1].counts == whole else "NO"]
            for chunk_s, found in runs.items()]
    print(f"exact counting alone, every distinct SLI side of {len(cases)} SLOs over the 3 phases of 1 h:")
    print(table(["chunk", "passes", "seconds (min/med/max)", "reads", "largest answer (samples)",
                 "counts equal to one read"], rows))


@contextmanager
def backfilled(folder: Path, series: list[Synthetic]) -> Iterator[PrometheusServer]:
    """The synthetic series as TSDB blocks, served by a private Prometheus; stopped by its PID afterwards."""
    if shutil.which("promtool") is None:
        raise SystemExit("promtool is not installed: run scripts/setup.sh (it installs Prometheus)")
    began = time.perf_counter()
    with (folder / "data.om").open("w") as out:
        out.writelines(openmetrics_lines(series))
    written = time.perf_counter()
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(folder / "data.om"),
                    str(folder / "tsdb")], check=True, capture_output=True, timeout=300)
    (folder / "data.om").unlink()
    print(f"OpenMetrics written in {written - began:.1f} s, blocks made by promtool in "
          f"{time.perf_counter() - written:.1f} s")
    server = PrometheusServer(folder / "server", storage_path=folder / "tsdb", retention="100y")
    try:
        server.start()
        yield server
    finally:
        pid = server.pid
        server.stop()
        print(f"\nPrometheus stopped; processes left behind: {leftovers([pid] if pid else []) or 'none'}")


def warm(client: PromClient) -> int:
    """Read every sample once (Prometheus side only), so no pass pays for loading the blocks; their number."""
    answer = client.query(f'sum(count_over_time({{__name__=~".+"}}[{SPAN_S}s]))', at=T0 + SPAN_S)
    return int(answer.vector[0].value) if answer.vector else 0


def peak_mb() -> float:
    """The most memory this process has held so far (its peak resident set)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = arguments(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--repeat", type=int, default=None,
                        help="passes of each combination (default 3, quick 1)")
    args = parser.parse_args()
    setup_logging(args.verbose)
    repeat = args.repeat or (1 if args.quick else 3)
    counts = (20,) if args.quick else (20, 100)
    print(f"evaluation_scaling: {' and '.join(map(str, counts))} SLOs x 3 phases of 1, 10 and 60 min, "
          f"{repeat} pass(es) each\n{machine_line()}")
    began = time.perf_counter()
    series = synthesise()
    print(f"{len(series)} series, {sum(len(s.values) for s in series):,} samples synthesised in "
          f"{time.perf_counter() - began:.1f} s")
    with tempfile.TemporaryDirectory(prefix="evalbench-", ignore_cleanup_errors=True) as path, \
            backfilled(Path(path), series) as server:
        client = CountingClient(server.url)
        print(f"Prometheus serves {warm(client):,} samples")
        cases = build_cases(client, max(counts), T0 + SPAN_S)
        kinds = [dict(Counter(c.sli.kind for c in cases[:n])) for n in counts]
        print("SLIs: " + "; ".join(f"{n} SLOs: {k}" for n, k in zip(counts, kinds, strict=True)) + "\n")
        before = peak_mb()
        passes = measure(client, cases, counts, repeat)
        print(f"\npeak memory of this process: {before:.0f} MB before the passes (synthesis), "
              f"{peak_mb():.0f} MB after them\n")
        report_times(passes)
        print()
        report_exactness(passes, cases, series)
        print()
        report_verdicts(passes)
        print()
        report_chunks(client, cases[:20], repeat)
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
