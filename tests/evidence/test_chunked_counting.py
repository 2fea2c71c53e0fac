"""Exact counting read in chunks gives the count of the whole window, whatever the chunk edges.

count_exact reads a long window's raw samples chunk by chunk and carries each series' tally across
the edges. These tests put counters with resets, series born in the window (some in a later chunk),
scrape gaps, series that end, and samples exactly on the window's and the chunks' edges in a fake
Prometheus (tests/fakes: Prometheus 2.42's range semantics) and compare the chunked count with the
unchunked one and with a plain count of the table.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.evidence.counting import Count, Tally, exact_increase, tally_samples
from harness.evidence.queries import chunks, count_exact
from harness.prom.client import PromClient, Series
from tests.fakes.prometheus import FakePrometheus, FakeSeries, series

T0 = 1_000_000.0
START = T0 + 100.0
LOOKBACK = 6.0
SELECTOR = "x_total"


@pytest.fixture(scope="module")
def prom() -> Iterator[FakePrometheus]:
    with FakePrometheus() as fake:
        yield fake


def counted(prom: FakePrometheus, table: list[FakeSeries], end: float, chunk_s: float,
            start: float = START) -> Count:
    prom.series[:] = table
    client = PromClient(prom.url)
    try:
        return count_exact(client, SELECTOR, start, end, LOOKBACK, chunk_s=chunk_s)
    finally:
        client.close()


def plain_count(table: list[FakeSeries], start: float, end: float) -> Count:
    """The documented rules, written out plainly: baseline = the last sample in the 5 minutes up to
    start (none: born, counts from 0), a drop adds the new value whole, samples after end ignored."""
    if not any(start - LOOKBACK <= t <= end for s in table for t, _ in s.points):
        return Count(None, "exact-samples", 0, problems=("no samples",))
    value, resets, used, born = 0.0, 0, 0, []
    for s in sorted(table, key=lambda s: sorted(s.labels.items())):
        points = sorted(s.points)
        inside = [v for t, v in points if start < t <= end]
        if not inside:
            continue
        prior = [v for t, v in points if start - 300 <= t <= start]
        previous = prior[-1] if prior else 0.0
        born += [] if prior else [dict(s.labels)]
        for v in inside:
            resets += v < previous
            value += v - previous if v >= previous else v
            previous = v
        used += 1
    if not used:
        return Count(None, "exact-samples", 0, problems=(f"no samples in the window ({start:.3f}, {end:.3f}]",))
    return Count(value, "exact-samples", used, tuple(born), resets)


@st.composite
def counters(draw: st.DrawFn, name: str) -> FakeSeries:
    """A counter scraped every 1-4 s, maybe born late, maybe ending early, with resets and a gap."""
    step = draw(st.sampled_from([1.0, 2.0, 2.5, 4.0]))
    first = draw(st.integers(min_value=0, max_value=60))
    count = draw(st.integers(min_value=1, max_value=120))
    increments = draw(st.lists(st.integers(min_value=0, max_value=30), min_size=count, max_size=count))
    restarts = set(draw(st.lists(st.integers(min_value=0, max_value=count - 1), max_size=3)))
    gap = draw(st.one_of(st.none(), st.tuples(st.integers(0, count), st.integers(1, 40))))
    value, points = float(draw(st.integers(min_value=0, max_value=1000))), []
    for i, events in enumerate(increments):
        value = float(events) if i in restarts else value + events
        if gap is None or not gap[0] <= i < gap[0] + gap[1]:
            points.append((T0 + 40.0 + first * step + i * step, value))
    return series(f'x_total{{pod="{name}"}}', points or [(T0 + 40.0, value)])


tables = st.lists(st.integers(), min_size=1, max_size=4).flatmap(
    lambda ids: st.tuples(*(counters(f"p{i}") for i in range(len(ids)))))


@settings(max_examples=60, deadline=None)
@given(table=tables, length=st.sampled_from([20.0, 37.5, 60.0, 90.0, 140.0]),
       chunk_s=st.sampled_from([5.0, 7.0, 12.5, 30.0]))
def test_chunked_count_equals_the_whole_window(prom: FakePrometheus, table: tuple[FakeSeries, ...],
                                               length: float, chunk_s: float) -> None:
    end = START + length
    whole = counted(prom, list(table), end, chunk_s=1e6)
    assert counted(prom, list(table), end, chunk_s=chunk_s) == whole
    assert whole == plain_count(list(table), START, end)


def test_chunks_are_read_one_after_the_other_and_edges_count_once(prom: FakePrometheus) -> None:
    # samples every 5 s from T0 + 60, one exactly on each chunk edge (START + 10, + 20) and on START
    table = [series('x_total{pod="a"}', [(T0 + 60 + 5 * i, 10.0 * i) for i in range(16)])]
    prom.received.clear()
    count = counted(prom, table, START + 30, chunk_s=10.0)
    assert (count.value, count.series, count.resets) == (60.0, 1, 0)  # 100 at START, 160 at START + 30
    reads = [(r.query, r.time) for r in prom.queries()]
    assert reads == [("x_total[16s]", START + 10), ("x_total[16s]", START + 20), ("x_total[16s]", START + 30)]


def test_a_reset_on_a_chunk_edge_and_a_series_born_in_a_later_chunk(prom: FakePrometheus) -> None:
    killed = series('x_total{pod="a"}', [(START - 5, 100.0), (START + 5, 110.0), (START + 10, 4.0),
                                         (START + 15, 9.0)])
    born = series('x_total{pod="b"}', [(START + 24, 3.0), (START + 29, 5.0)])
    count = counted(prom, [killed, born], START + 30, chunk_s=10.0)
    assert count == Count(10 + 4 + 5 + 5, "exact-samples", 2, ({"__name__": "x_total", "pod": "b"},), 1)
    assert count == counted(prom, [killed, born], START + 30, chunk_s=1e6)


def test_a_series_back_after_a_gap_in_a_later_chunk_is_not_born(prom: FakePrometheus) -> None:
    # last seen 100 s before the window, back in its third chunk: its baseline is that old sample
    paused = series('x_total{pod="p"}', [(START - 100, 500.0), (START + 25, 520.0)])
    count = counted(prom, [paused], START + 30, chunk_s=10.0)
    assert (count.value, count.born_in_window) == (20.0, ())
    assert any("@ " in r.query for r in prom.queries())  # found by the 5-minute baseline lookup


def test_nan_in_a_later_chunk_makes_the_count_unusable(prom: FakePrometheus) -> None:
    broken = series('x_total{pod="a"}', [(START - 5, 1.0), (START + 5, 2.0), (START + 25, math.nan)])
    count = counted(prom, [broken], START + 30, chunk_s=10.0)
    assert count == Count(None, "exact-samples", 0,
                          problems=(f'NaN in result: x_total{{pod="a"}} at {START + 25:.3f}',))
    assert count == counted(prom, [broken], START + 30, chunk_s=1e6)


def test_no_series_at_all_is_no_data_in_chunks_too(prom: FakePrometheus) -> None:
    assert counted(prom, [], START + 30, chunk_s=10.0).problems == ("no samples",)


def test_warnings_of_the_chunks_are_listed_once(prom: FakePrometheus) -> None:
    table = [series('x_total{pod="a"}', [(START - 5, 1.0), (START + 5, 2.0), (START + 25, 4.0)])]
    prom.warn("partial response")
    try:
        count = counted(prom, table, START + 30, chunk_s=10.0)
    finally:
        prom.warnings.clear()
    assert (count.value, count.problems) == (3.0, ("warning: partial response",))


@pytest.mark.parametrize(("start", "end", "chunk_s", "edges"), [
    (0.0, 30.0, 30.0, [(0.0, 30.0)]),
    (0.0, 30.0, 100.0, [(0.0, 30.0)]),
    (0.0, 30.0, 10.0, [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]),
    (0.0, 25.0, 10.0, [(0.0, 25 / 3), (25 / 3, 50 / 3), (50 / 3, 25.0)]),
    (100.4, 3700.4, 3600.0, [(100.4, 3700.4)]),
])
def test_chunk_edges(start: float, end: float, chunk_s: float, edges: list[tuple[float, float]]) -> None:
    found = chunks(start, end, chunk_s)
    assert [t for edge in found for t in edge] == pytest.approx([t for edge in edges for t in edge])
    assert found[-1][1] == end and all(a[1] == b[0] for a, b in itertools.pairwise(found))


def test_tallies_carried_over_any_edges_add_up_to_the_whole() -> None:
    points = ((995.0, 100.0), (1005.0, 200.0), (1015.0, 5.0), (1025.0, 5.0), (1035.0, 50.0), (1065.0, 900.0))
    whole = exact_increase([Series({"pod": "a"}, points)], 1000.0, 1060.0)
    for edges in ([1000.0, 1060.0], [1000.0, 1015.0, 1060.0], [1000.0, 1010.0, 1020.0, 1030.0, 1040.0, 1060.0]):
        tally = Tally({"pod": "a"})
        for i, (low, high) in enumerate(itertools.pairwise(edges)):
            tally = tally_samples(tally, [p for p in points if low - 10 <= p[0] <= high], low, high, opening=i == 0)
        assert (tally.increase, tally.resets, tally.inside, tally.previous) == (150.0, 1, 4, 50.0)
    assert (whole.value, whole.resets) == (150.0, 1)
