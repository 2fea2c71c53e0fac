"""The plots' cumulative counts are the verdict's exact counts, at every time of the grid."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from harness.evidence.counting import cumulative_increase, exact_increase
from harness.prom.client import Series

START = 1000.0

counter_values = st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=30)


def _series(values: list[int], first_t: float, replica: str) -> Series:
    return Series({"__name__": "requests_total", "replica": replica},
                  tuple((first_t + 2.0 * i, float(v)) for i, v in enumerate(values)))


@given(st.lists(st.tuples(counter_values, st.floats(min_value=990, max_value=1040)), min_size=1, max_size=4))
def test_each_point_equals_the_exact_count_of_its_window(shapes: list[tuple[list[int], float]]) -> None:
    series = [_series(values, first_t, f"r{i}") for i, (values, first_t) in enumerate(shapes)]
    times = [START + 1.5 * k for k in range(1, 50)]
    cumulative = cumulative_increase(series, START, times)
    for at, value in zip(times, cumulative, strict=True):
        expected = exact_increase(series, START, at).value
        seen_by_then = any(t <= at for s in series for t, _ in s.points)
        if expected is not None:
            assert value is not None and math.isclose(value, expected), (at, value, expected)
        else:  # no sample inside the window yet: zero when a series already existed, else no data
            assert value == (0.0 if seen_by_then else None)


def test_a_reset_from_a_killed_replica_counts_the_new_value_whole() -> None:
    killed = Series({"replica": "a"}, ((998.0, 10.0), (1002.0, 14.0), (1004.0, 2.0), (1006.0, 5.0)))
    assert cumulative_increase([killed], START, [1001.0, 1002.0, 1004.0, 1007.0]) == [0.0, 4.0, 6.0, 9.0]


def test_nan_makes_every_point_unusable_and_no_series_is_no_data() -> None:
    broken = Series({"replica": "a"}, ((998.0, 1.0), (1002.0, math.nan)))
    assert cumulative_increase([broken], START, [1001.0, 1003.0]) == [None, None]
    assert cumulative_increase([], START, [1001.0]) == [None]
