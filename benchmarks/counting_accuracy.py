"""Counting accuracy against a known truth: count_exact and count_increase side by side.

Targets: exact without crash faults; within 0.5 % of the edge's truth with a replica killed.

(a) Synthetic: counters with known increments (steady, random, resets, a counter born in the window,
    one that ends in it, bursts near the edges) written as OpenMetrics, turned into TSDB blocks by
    `promtool tsdb create-blocks-from openmetrics` and served by a private Prometheus. The truth is
    what Prometheus could see: the events between the last scrape at or before the window's start and
    the last scrape at or before its end (window edges fall between scrapes, as in real runs).
(b) Live: a LocalStack; a bounded client sends GET /api/catalog through the Caddy edge (its count is
    the truth) and one replica is SIGKILLed mid-window. Compared: the edge's exact and increase()
    counts with the client's, and the shop's own counter summed over replicas (exact, increase(),
    and the `x@end - x@start` trap) with the client's 200s. The killed process takes with it the
    requests it answered after its last scrape; the client sees which replica answered each request.

    .venv/bin/python benchmarks/counting_accuracy.py [--quick] [--trials N]
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from _common import (
    CATALOG,
    Load,
    Outcome,
    Spread,
    arguments,
    edge_port,
    local_stack,
    machine_line,
    pct,
    scratch,
    setup_logging,
    table,
    wait_for_scrape_after,
)

from harness.evidence.counting import Count
from harness.evidence.queries import count_exact, count_increase
from harness.platform.local.stack import LocalStack
from harness.prom.client import PromClient
from harness.prom.server import PrometheusServer

T0 = 1_700_000_000  # a fixed past time: promtool blocks are served whatever their age
SCRAPES = 40
EDGE = 'caddy_http_requests_total{server="edge"}'
SHOP = 'http_requests_total{job="shop",route="/api/catalog"}'


@dataclass(frozen=True)
class Synthetic:
    """A counter's scrapes as (time, events since the previous scrape, exposed value)."""

    scenario: str
    scrapes: tuple[tuple[int, int, int], ...]

    def truth(self, start: float, end: float) -> int:
        return sum(events for t, events, _ in self.scrapes if start < t <= end)


def synthetic(scenario: str, step: int, rng: random.Random, *, first: int = 0, last: int = SCRAPES - 1,
              resets: tuple[int, ...] = (), bursts: dict[int, int] | None = None,
              steady: int = 0) -> Synthetic:
    """Events per scrape are random (or `steady`); a reset exposes only the events since the restart."""
    value, scrapes = 0, []
    for i in range(first, last + 1):
        events = 0 if i == 0 else (bursts or {}).get(i, steady or rng.randint(0, 40))
        value = events if i in resets else value + events
        scrapes.append((T0 + i * step, events, value))
    return Synthetic(scenario, tuple(scrapes))


def scenarios(step: int, seed: int) -> list[Synthetic]:
    rng = random.Random(seed)
    return [
        synthetic("steady", step, rng, steady=10),
        synthetic("random", step, rng),
        synthetic("reset", step, rng, resets=(20,)),
        synthetic("two-resets", step, rng, resets=(15, 25)),
        synthetic("born-in-window", step, rng, first=18, bursts={18: 30}),
        synthetic("ended-in-window", step, rng, last=24),
        synthetic("edge-bursts", step, rng, bursts={i: 500 if i in (11, 30) else 0 for i in range(SCRAPES)}),
    ]


def openmetrics(families: dict[int, list[Synthetic]]) -> str:
    lines = []
    for step, counters in families.items():
        lines.append(f"# TYPE bench_s{step}_requests counter")
        lines += [f'bench_s{step}_requests_total{{scenario="{c.scenario}"}} {v} {t}'
                  for c in counters for t, _, v in c.scrapes]
    return "\n".join([*lines, "# EOF"]) + "\n"


def _err(count: Count, truth: float) -> tuple[str, str]:
    if count.value is None:
        return "none", "no data"
    return f"{count.value:.1f}", pct((count.value - truth) / truth * 100) if truth else "n/a"


def synthetic_part(folder: Path) -> None:
    families = {step: scenarios(step, seed=step) for step in (1, 15)}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.om").write_text(openmetrics(families))
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(folder / "data.om"),
                    str(folder / "tsdb")], check=True, capture_output=True, timeout=60)
    rows = []
    with PrometheusServer(folder / "server", storage_path=folder / "tsdb", retention="100y") as server:
        client = PromClient(server.url)
        for step, counters in families.items():
            start, end = T0 + 10.4 * step, T0 + 30.6 * step  # 20 scrapes inside, edges between scrapes
            lookback = max(5.0, 3.0 * step)
            for c in [*counters, None]:
                selector = f"bench_s{step}_requests_total" + (f'{{scenario="{c.scenario}"}}' if c else "")
                truth = c.truth(start, end) if c else sum(x.truth(start, end) for x in counters)
                exact = count_exact(client, selector, start, end, lookback)
                increase = count_increase(client, selector, start, end)
                notes = f"resets {exact.resets}" + (", born" if exact.born_in_window else "")
                rows.append([f"{step} s", c.scenario if c else "ALL (sum)", truth, *_err(exact, truth),
                             *_err(increase, truth), notes])
        client.close()
    print(table(["scrape", "counter", "truth", "exact", "exact error", "increase()", "increase() error",
                 "exact saw"], rows, left=2))


@dataclass(frozen=True)
class LiveTrial:
    victim: int
    kill_offset_s: float
    outcomes: tuple[Outcome, ...]
    answered_then_lost: int  # answered by the killed process after its last scrape
    counts: dict[str, float | None]  # method -> counted
    resets: int


def live_trial(stack: LocalStack, client: PromClient, seconds: float, victim: int) -> LiveTrial:
    load = Load(edge_port(stack), [CATALOG], threads=6, rate_per_thread=40)
    start = time.time()
    time.sleep(0.3)  # no request near the window's start: the truth is the whole load
    load.start()
    try:
        time.sleep(seconds / 2)
        replica = next(r for r in stack.replicas() if r.index == victim)
        os.kill(replica.pid, signal.SIGKILL)
        killed_at = time.time()
        time.sleep(seconds / 2)
    finally:
        outcomes = tuple(load.stop())
    end = max(o.ended for o in outcomes) + 2.5  # two scrapes after the last answer are inside the window
    time.sleep(max(0.0, end - time.time()))
    for job in ("edge", "shop"):
        wait_for_scrape_after(client, job, end)
    lost = _lost_with_the_process(client, outcomes, victim, killed_at, end)
    edge_exact, shop_exact = (count_exact(client, s, start, end, 5.0) for s in (EDGE, SHOP))
    counts = {
        "edge exact": edge_exact.value,
        "edge increase()": count_increase(client, EDGE, start, end).value,
        "shop exact": shop_exact.value,
        "shop increase()": count_increase(client, SHOP, start, end).value,
        "shop x@end - x@start": _at(client, SHOP, end) - _at(client, SHOP, start),
    }
    return LiveTrial(victim, killed_at - start, outcomes, lost, counts, shop_exact.resets)


def _at(client: PromClient, selector: str, at: float) -> float:
    answer = client.query(f"sum({selector})", at=at)
    return answer.vector[0].value if answer.vector else float("nan")


def _lost_with_the_process(client: PromClient, outcomes: tuple[Outcome, ...], victim: int, killed_at: float,
                           end: float) -> int:
    """Requests the killed process answered after its last scrape: its counter died with them."""
    selector = SHOP[:-1] + f',replica="{victim}"}}'
    series = client.query(f"{selector}[{int(end - killed_at) + 30}s]", at=end).matrix
    scraped = [t for s in series for t, _ in s.points if t <= killed_at]
    last_scrape = max(scraped, default=killed_at)
    # The restarted process answers only after the restart delay (1 s): earlier answers are the old one's.
    return sum(1 for o in outcomes if o.replica == str(victim) and o.status == 200
               and last_scrape < o.ended < killed_at + 0.5)


def _truth(trial: LiveTrial, method: str) -> int:
    """The edge's truth is every request sent; the shop's, the requests a replica answered (200)."""
    if method.startswith("edge"):
        return len(trial.outcomes)
    return sum(1 for o in trial.outcomes if o.status == 200)


def report_live(trials: list[LiveTrial]) -> None:
    rows = []
    for n, trial in enumerate(trials, 1):
        for method, counted in trial.counts.items():
            truth = _truth(trial, method)
            error = pct((counted - truth) / truth * 100) if counted is not None else "no data"
            rows.append([n, method, "none" if counted is None else f"{counted:.1f}", truth, error])
        explained = (trial.counts["shop exact"] or 0.0) + trial.answered_then_lost
        ok = _truth(trial, "shop")
        rows.append([n, "shop exact + lost with the process", f"{explained:.0f}", ok,
                     pct((explained - ok) / ok * 100)])
    print(table(["trial", "counter and method", "counted", "truth (client)", "error"], rows, left=2))
    for n, trial in enumerate(trials, 1):
        statuses = dict(Counter(o.status for o in trial.outcomes))
        print(f"trial {n}: {len(trial.outcomes)} requests sent, statuses {statuses}; replica {trial.victim} "
              f"SIGKILLed at +{trial.kill_offset_s:.1f} s;\n  {trial.answered_then_lost} requests answered "
              f"by it after its last scrape (lost with it); exact counting saw {trial.resets} reset(s)")
    print("error over the trials, min / median / max:")
    for method in trials[0].counts:
        errors = [(c - _truth(t, method)) / _truth(t, method) * 100
                  for t in trials if (c := t.counts[method]) is not None]
        print(f"  {method:<22} {Spread.of(errors).show('{:+.3f} %')}  ({len(errors)} trial(s))")


def main() -> int:
    parser = arguments(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--trials", type=int, default=None, help="live kill trials (default 3, quick 1)")
    args = parser.parse_args()
    setup_logging(args.verbose)
    trials = args.trials or (1 if args.quick else 3)
    seconds = 8.0 if args.quick else 16.0
    print(f"counting_accuracy\n{machine_line()}\n")
    print("(a) synthetic counters on a backfilled TSDB, a window of 20 scrapes")
    with scratch("counting") as folder:
        synthetic_part(folder / "synthetic")
        print(f"\n(b) live: {trials} trial(s) of {seconds:g} s at ~240 req/s through the edge, "
              "one replica killed in each")
        with local_stack(folder / "run") as stack:
            client = PromClient(stack.prometheus_url)
            results = [live_trial(stack, client, seconds, victim=n % 3) for n in range(trials)]
            client.close()
            report_live(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
