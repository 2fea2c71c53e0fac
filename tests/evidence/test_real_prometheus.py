"""Exact counting, bucket discovery and scrape health against a real Prometheus on a backfilled TSDB.

Known counters are written as OpenMetrics (timestamps in seconds, ending with `# EOF`) and turned into
TSDB blocks by `promtool tsdb create-blocks-from openmetrics`. Prometheus 2.42 serves such blocks
whatever their age when it starts on a data dir that holds only them (no head data to overlap), so a
fixed time in the past keeps the numbers reproducible; the retention must cover that age.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.evidence.queries import count_exact, count_increase, histogram_bounds, scrape_health
from harness.prom.client import PromClient
from harness.prom.server import PrometheusServer
from harness.promql import find_bound

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0
S = 5.0  # scrape interval of the synthetic data
SCRAPES = 37  # T0 .. T0 + 180 s
START = T0 + 62.0  # window edges fall between scrapes, as they do in real runs
END = T0 + 152.0
LOOKBACK = 3 * S


@dataclass(frozen=True)
class Counter:
    """A counter's scrapes: (time, events since the previous scrape, exposed value)."""

    labels: str
    scrapes: tuple[tuple[float, float, float], ...]

    def truth(self) -> float:
        """Events Prometheus could see between the last scrapes at or before START and END."""
        return sum(events for t, events, _ in self.scrapes if START < t <= END)


def counter(
    labels: str,
    per_scrape: float,
    *,
    first: int = 0,
    last: int = SCRAPES - 1,
    restart_at: int | None = None,
    events_at: Mapping[int, float] | None = None,
) -> Counter:
    """Each scrape carries per_scrape events (or events_at[i]); a restart exposes only the new ones."""
    special = events_at or {}
    value = 0.0
    scrapes = []
    for i in range(first, last + 1):
        # Exposed from scrape 0, a counter starts at 0; born later, it shows its first events at once.
        events = 0.0 if i == 0 else special.get(i, per_scrape)
        value = events if i == restart_at else value + events
        scrapes.append((T0 + i * S, events, value))
    return Counter(labels, tuple(scrapes))


STEADY = counter('instance="a"', 10)
RESET = counter('instance="b"', 7, restart_at=20, events_at={20: 3})  # replica b killed and back at T0 + 100
ENDED = counter('instance="c"', 5, last=22)  # replica c gone at T0 + 110
# An error counter born at T0 + 100 with 30 errors at once, then 2 per scrape.
BORN = counter('instance="b",code="500"', 2, first=20, events_at={20: 30})
REQUESTS = (STEADY, RESET, ENDED)


def openmetrics() -> str:
    lines = ["# TYPE app_requests counter"]
    for c in REQUESTS:
        lines += [f"app_requests_total{{{c.labels}}} {v:g} {t:.0f}" for t, _, v in c.scrapes]
    lines.append("# TYPE app_errors counter")
    lines += [f"app_errors_total{{{BORN.labels}}} {v:g} {t:.0f}" for t, _, v in BORN.scrapes]
    lines += histogram("app_latency_seconds", ("0.25", "0.5", "1.0", "+Inf"))  # Prometheus 3 spelling
    lines += histogram("app_old_latency_seconds", ("0.5", "1", "+Inf"))  # Prometheus 2 spelling
    # A counter not scraped from T0 + 45 to T0 + 70 (a paused process, a scrape outage): its last
    # sample before START lies beyond the short lookback, yet it is not born in the window.
    lines.append("# TYPE app_paused counter")
    lines += [f'app_paused_total{{instance="p"}} {10 * i} {T0 + i * S:.0f}' for i in range(SCRAPES) if not 8 < i < 15]
    lines.append("# TYPE up gauge")
    for instance, last, down_at in (("a", SCRAPES - 1, -1), ("b", SCRAPES - 1, 20), ("c", 22, -1)):
        lines += [
            f'up{{job="edge",instance="{instance}"}} {0 if i == down_at else 1} {T0 + i * S:.0f}'
            for i in range(last + 1)
        ]
    lines += [f'up{{job="other",instance="z"}} 0 {T0 + i * S:.0f}' for i in range(SCRAPES)]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def histogram(name: str, bounds: tuple[str, ...]) -> list[str]:
    lines = [f"# TYPE {name} histogram"]
    for i in range(SCRAPES):
        t = f"{T0 + i * S:.0f}"
        lines += [f'{name}_bucket{{le="{le}"}} {i * (k + 1)} {t}' for k, le in enumerate(bounds)]
        lines.append(f"{name}_count {i * len(bounds)} {t}")
    return lines


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromClient]:
    workdir = tmp_path_factory.mktemp("prom")
    data = workdir / "data.om"
    data.write_text(openmetrics())
    tsdb = workdir / "tsdb"
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(data), str(tsdb)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    assert any(Path(tsdb).iterdir()), "promtool wrote no block"
    with PrometheusServer(workdir / "server", targets=(), storage_path=tsdb, retention="100y") as server:
        client = PromClient(server.url)
        client.check_reachable()
        yield client
        client.close()


def test_exact_count_matches_the_truth_across_reset_and_ended_replica(client: PromClient) -> None:
    count = count_exact(client, "app_requests_total", START, END, LOOKBACK)
    assert count.value == sum(c.truth() for c in REQUESTS) == 180 + 122 + 50
    assert (count.series, count.resets, count.born_in_window, count.problems) == (3, 1, (), ())


def test_exact_count_survives_the_reset_that_breaks_subtraction(client: PromClient) -> None:
    selector = 'app_requests_total{instance="b"}'
    count = count_exact(client, selector, START, END, LOOKBACK)
    assert count.value == RESET.truth() == 122
    naive = client.query(selector, at=END).vector[0].value - client.query(selector, at=START).vector[0].value
    assert naive < 0  # x@t1 - x@t0 across a restart: the trap exact counting avoids


def test_exact_count_includes_a_counter_born_in_the_window(client: PromClient) -> None:
    exact = count_exact(client, "app_errors_total", START, END, LOOKBACK)
    assert exact.value == BORN.truth() == 50
    assert exact.born_in_window == ({"__name__": "app_errors_total", "code": "500", "instance": "b"},)
    extrapolated = count_increase(client, "app_errors_total", START, END)
    assert extrapolated.value is not None and extrapolated.value < 0.5 * BORN.truth()
    assert extrapolated.born_in_window == exact.born_in_window


def test_exact_count_after_a_scrape_gap_counts_from_the_last_sample_before_it(client: PromClient) -> None:
    # truth: the value at the last scrape <= END (scrape 30) minus the last one before the gap (scrape 8)
    count = count_exact(client, 'app_paused_total{instance="p"}', START, END, LOOKBACK)
    assert count.value == 10 * 30 - 10 * 8
    assert count.born_in_window == ()


@pytest.mark.parametrize("selector", ["app_requests_total", "app_errors_total", 'app_paused_total{instance="p"}'])
@pytest.mark.parametrize("chunk_s", [3.0, 7.0, 30.0])  # 3 s puts chunk edges on scrapes (T0 + 65, + 80, ...)
def test_chunked_reads_count_what_one_read_counts(client: PromClient, selector: str, chunk_s: float) -> None:
    # the reset, the ended replica, the counter born in the window and the scrape gap, read in chunks
    whole = count_exact(client, selector, START, END, LOOKBACK)
    assert whole.value is not None
    assert count_exact(client, selector, START, END, LOOKBACK, chunk_s=chunk_s) == whole


def test_increase_is_close_for_a_steady_counter(client: PromClient) -> None:
    extrapolated = count_increase(client, 'app_requests_total{instance="a"}', START, END)
    assert extrapolated.value == pytest.approx(STEADY.truth(), rel=0.05)
    assert extrapolated.born_in_window == ()


def test_no_data_is_none_not_zero(client: PromClient) -> None:
    assert count_exact(client, "app_missing_total", START, END, LOOKBACK).value is None
    assert count_increase(client, "app_missing_total", START, END).problems == ("empty result",)


def test_histogram_bounds_find_both_spellings(client: PromClient) -> None:
    bounds = histogram_bounds(client, "app_latency_seconds", "", START, END)
    assert bounds == [("0.25", 0.25), ("0.5", 0.5), ("1.0", 1.0), ("+Inf", math.inf)]
    assert find_bound(bounds, 1.0) == "1.0"
    assert find_bound(bounds, 0.3) is None
    old = histogram_bounds(client, "app_old_latency_seconds", "", START, END)
    assert find_bound(old, 1.0) == "1"


def test_scrape_health_sees_the_down_and_the_missing_target(client: PromClient) -> None:
    health = scrape_health(client, '{job="edge"}', START, END, scrape_interval_s=S)
    assert (health.targets, health.down, health.gaps, health.problems) == (3, ("b",), ("c",), ())
    healthy = scrape_health(client, '{job="edge",instance="a"}', START, END, scrape_interval_s=S)
    assert healthy.healthy
