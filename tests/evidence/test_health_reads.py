"""Telemetry health reads the SLI's raw samples only when an outage needs them.

Exact counting reads the total's raw samples past the memo (see count_exact); health reads them again
only to bound what an outage hides, or when a target has no `up`. On a clean window the raw samples
of a long phase are read once.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.evidence.collect import Window, collect_phase
from harness.plan import Plan, SliQueries
from harness.prom.client import PromClient
from tests.fakes.prometheus import FakePrometheus, FakeSeries, series

T0 = 1_700_000_000.0
S = 5.0
WINDOW = Window("fault", T0 + 62.5, T0 + 662.5)
TOTAL = 'http_requests_total{job="edge"}'
BAD = 'http_requests_total{job="edge",code="500"}'
RAW_TOTAL = f"{TOTAL}[615s]"  # the window and the 15 s lookback, as both readers ask it
SLI = SliQueries("checkout", "ratio", None, BAD, TOTAL)
PLAN = Plan("reads", phases=(), faults=(), slis=(SLI,), scrape_interval_s=S, settle_s=0.0, guard_s=0.0)


def table(missing_up: Sequence[int] = ()) -> list[FakeSeries]:
    labels = 'job="edge",instance="edge:80"'
    served = series(f'http_requests_total{{{labels},code="200"}}', [(T0 + i * S, 50.0 * i) for i in range(141)])
    failed = series(f'http_requests_total{{{labels},code="500"}}', [(T0 + i * S, float(i // 10)) for i in range(141)])
    up = series(f"up{{{labels}}}", [(T0 + i * S, 1.0) for i in range(141) if i not in missing_up])
    return [served, failed, up]


def raw_total_reads(rows: list[FakeSeries]) -> tuple[int, tuple[str, ...]]:
    with FakePrometheus(rows) as prom:
        client = PromClient(prom.url, backoff_s=0.01)
        with client.memo():
            evidence = collect_phase(client, SLI, WINDOW, PLAN, True, None)
        client.close()
    assert prom.unsupported == []
    return len(prom.queries(RAW_TOTAL)), evidence.telemetry_notes


def test_a_clean_window_reads_the_total_once() -> None:
    assert raw_total_reads(table()) == (1, ())


def test_a_scrape_gap_reads_the_total_again_to_bound_what_it_hides() -> None:
    reads, notes = raw_total_reads(table(missing_up=range(40, 70)))
    assert reads == 2
    assert len(notes) == 1 and "its counters continued across the gap, so nothing is missing" in notes[0]
