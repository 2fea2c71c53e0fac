from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from harness.evidence.counting import Count, exact_increase, increase_count, series_key
from harness.prom.client import QueryAnswer, Sample, Series
from harness.promql import (
    at_modifier,
    born_query,
    bounds_query,
    find_bound,
    increase_query,
    raw_samples_query,
    up_queries,
    window_literal,
)

START = 1000.0
END = 1060.0


def series(values: Sequence[float], first_t: float = 995.0, step: float = 10.0, **labels: str) -> Series:
    """A counter scraped every `step` seconds from first_t."""
    points = tuple((first_t + i * step, float(v)) for i, v in enumerate(values))
    return Series({"__name__": "requests_total", **labels}, points)


@dataclass(frozen=True)
class Case:
    series: tuple[Series, ...]
    value: float | None
    n_series: int = 1
    resets: int = 0
    born: tuple[dict[str, str], ...] = ()
    problems: tuple[str, ...] = field(default=())


CASES = {
    # scrapes at t = 995 (the baseline), 1005, ..., 1055, 1065 (after the end)
    "steady_counter": Case((series([0, 10, 20, 30, 40, 50, 60]),), 60.0),
    "killed_replica_reset": Case((series([100, 200, 300, 5, 50], step=15),), 200 + 5 + 45, resets=1),
    "two_resets": Case((series([10, 20, 3, 8, 1, 4]),), 10 + 3 + 5 + 1 + 3, resets=2),
    "counter_born_in_window": Case(
        (series([1, 4, 9], first_t=1025, code="500"),),
        9.0,
        born=({"__name__": "requests_total", "code": "500"},),
    ),
    "series_ending_mid_window": Case(
        (series([0, 5, 10, 15], pod="a"), series([0, 1, 2, 3, 4, 5, 6], pod="b")),
        15 + 6,
        n_series=2,
    ),
    "samples_after_end_ignored": Case((series([0, 1, 2, 3, 4, 5, 6, 1000, 5000]),), 6.0),
    "baseline_exactly_at_start": Case((series([10, 30, 50], first_t=START),), 40.0),
    "sample_exactly_at_end_counts": Case((series([0, 1, 2, 3, 4, 5, 6, 9], first_t=990),), 9.0 - 1.0),
    "no_series": Case((), None, n_series=0, problems=("no samples",)),
    "series_gone_before_start": Case(
        (series([1, 2], first_t=900),),
        None,
        n_series=0,
        problems=("no samples in the window (1000.000, 1060.000]",),
    ),
    "nan_sample": Case(
        (series([0, 10, math.nan, 30]),),
        None,
        n_series=0,
        problems=("NaN in result: requests_total{} at 1015.000",),
    ),
    "nan_after_end_ignored": Case((series([0, 10, 20, 30, 40, 50, 60, math.nan]),), 60.0),
    "unsorted_points": Case((Series({}, ((1010.0, 20.0), (990.0, 5.0), (1005.0, 10.0))),), 15.0),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_exact_increase(case: Case) -> None:
    count = exact_increase(case.series, START, END)
    assert count == Count(
        value=case.value,
        method="exact-samples",
        series=case.n_series,
        born_in_window=case.born,
        resets=case.resets,
        problems=case.problems,
    )


def test_fractional_counts_are_summed_exactly() -> None:
    count = exact_increase([series([0.5, 1.0, 2.25])], START, END)
    assert count.value == pytest.approx(1.75)


def vector(*values: float, warnings: tuple[str, ...] = ()) -> QueryAnswer:
    samples = tuple(Sample({"code": str(i)}, v) for i, v in enumerate(values))
    return QueryAnswer("sum(increase(x[60s]))", END, "vector", vector=samples, warnings=warnings)


INCREASE_CASES = {
    "one_value": (vector(106.6), 106.6, ()),
    "zero_is_a_value": (vector(0.0), 0.0, ()),
    "empty_result": (vector(), None, ("empty result",)),
    "nan": (vector(math.nan), None, ("NaN in result",)),
    "plus_inf": (vector(math.inf), None, ("+Inf in result",)),
    "minus_inf": (vector(-math.inf), None, ("-Inf in result",)),
    "two_series_after_sum": (vector(1.0, 2.0), None, ("2 series after sum (expected 1)",)),
    "warnings_listed": (vector(5.0, warnings=("too many samples",)), 5.0, ("warning: too many samples",)),
    "scalar_answer": (QueryAnswer("scalar(x)", END, "scalar", scalar=3.0), 3.0, ()),
    "matrix_refused": (QueryAnswer("x[1m]", END, "matrix"), None, ("unexpected result type matrix",)),
}


@pytest.mark.parametrize(
    ("answer", "value", "problems"), list(INCREASE_CASES.values()), ids=list(INCREASE_CASES)
)
def test_increase_count_fails_closed(
    answer: QueryAnswer, value: float | None, problems: tuple[str, ...]
) -> None:
    count = increase_count(answer)
    assert count.method == "increase"
    assert count.value == value
    assert count.problems == problems


# -- query builders (pure) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "literal"),
    [
        (600, "600s"),
        (600.0, "600s"),
        (1.5, "1500ms"),
        (0.25, "250ms"),
        (0.1 + 0.2, "300ms"),
        (3600.0004, "3600s"),
    ],
)
def test_window_literal(seconds: float, literal: str) -> None:
    assert window_literal(seconds) == literal


@pytest.mark.parametrize("seconds", [0, -5, 0.0001, math.nan, math.inf])
def test_window_literal_refuses_empty_windows(seconds: float) -> None:
    with pytest.raises(ValueError, match="window must"):
        window_literal(seconds)


@pytest.mark.parametrize(
    ("given", "query"),
    [
        pytest.param(
            'http_requests_total{route="/api/checkout", code=~"5.."}',
            'sum(increase(http_requests_total{route="/api/checkout", code=~"5.."}[600s]))',
            id="selector",
        ),
        pytest.param(
            '{__name__=~"x_total"}', 'sum(increase({__name__=~"x_total"}[600s]))', id="name_matcher"
        ),
        pytest.param(
            'x{path="/a(b)[c]"}', 'sum(increase(x{path="/a(b)[c]"}[600s]))', id="brackets_in_a_label"
        ),
        pytest.param(
            "sum(rate(errors_total[{{window}}])) * {{window}}",
            "sum(rate(errors_total[600s])) * 600s",
            id="placeholder",
        ),
        pytest.param(
            "sum(increase(errors_total[{{.window}}]))",
            "sum(increase(errors_total[600s]))",
            id="sloth_placeholder",
        ),
    ],
)
def test_increase_query(given: str, query: str) -> None:
    assert increase_query(given, 600) == query


@pytest.mark.parametrize("expr", ["sum(x_total)", "x_total / y_total", "x_total[5m]", "x_total @ 100", ""])
def test_increase_query_refuses_an_expression_without_placeholder(expr: str) -> None:
    with pytest.raises(
        ValueError, match=re.escape("neither a counter selector nor an expression with {{window}}")
    ):
        increase_query(expr, 600)


@pytest.mark.parametrize(("t", "written"), [
    (1000.0, "@ 1000.000"),
    (99.9996, "@ 99.999"),  # a sample at 100.000 is after t: rounding to the nearest would take it in
    (100.0004, "@ 100.000"),
    (0.1 + 0.2, "@ 0.300"),  # float error below a microsecond is not a millisecond earlier
    (1796357959.1234, "@ 1796357959.123"),
])
def test_an_at_modifier_takes_only_samples_at_or_before_t(t: float, written: str) -> None:
    assert at_modifier(t) == written


def test_raw_samples_born_bounds_and_up_queries() -> None:
    assert raw_samples_query('x_total{job="edge"}', 615) == 'x_total{job="edge"}[615s]'
    assert born_query("x_total", 1000, 1600.5) == (
        "last_over_time(x_total[600500ms]) unless last_over_time(x_total[300s] @ 1000.000)"
    )
    assert bounds_query("lat_seconds", "", 60) == "count by (le) (last_over_time(lat_seconds_bucket[60s]))"
    assert up_queries('{job="edge"}', 60) == (
        'min_over_time(up{job="edge"}[60s])',
        'count_over_time(up{job="edge"}[60s])',
    )


BOUNDS = [("0.25", 0.25), ("0.5", 0.5), ("1.0", 1.0), ("2.5", 2.5), ("+Inf", math.inf)]


@pytest.mark.parametrize(
    ("bounds", "threshold", "found"),
    [
        pytest.param(BOUNDS, 0.5, "0.5", id="half_second"),
        pytest.param(BOUNDS, 1.0, "1.0", id="prometheus_3_spelling"),
        pytest.param([("0.5", 0.5), ("1", 1.0)], 1.0, "1", id="prometheus_2_spelling"),
        pytest.param(BOUNDS, 0.3, None, id="not_a_bound"),
        pytest.param(BOUNDS, 300 / 1000, None, id="milliseconds_not_a_bound"),
        pytest.param(BOUNDS, 250 / 1000, "0.25", id="milliseconds_bound"),
        pytest.param([], 0.5, None, id="no_buckets"),
    ],
)
def test_find_bound(bounds: list[tuple[str, float]], threshold: float, found: str | None) -> None:
    assert find_bound(bounds, threshold) == found


def test_a_series_silent_before_the_window_is_not_born_when_its_baseline_is_known() -> None:
    # a replica paused (or not scraped) for longer than the short lookback: its first sample in the
    # fetched range lies inside the window, yet it has 5000 requests from before the window
    paused = Series({"__name__": "x_total", "replica": "1"}, ((110.0, 5200.0), (111.0, 5290.0)))
    without = exact_increase([paused], 100.0, 120.0)
    assert (without.value, len(without.born_in_window)) == (5290.0, 1)
    with_baseline = exact_increase([paused], 100.0, 120.0, {series_key({"replica": "1"}): 5000.0})
    assert (with_baseline.value, with_baseline.born_in_window) == (290.0, ())
