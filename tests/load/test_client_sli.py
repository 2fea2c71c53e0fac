"""Client SLIs counted from the load record: whole seconds only, dropped arrivals bad, names checked."""

from __future__ import annotations

import json

import pytest

from harness.load.client_sli import (
    ClientSli,
    count_client_sli,
    counted_seconds,
    peak_error_ratio,
    recent_error_ratio,
)
from harness.load.record import DROPPED_REQUEST_NAME, Record, parse_record, threshold_key


def _line(second: int, name: str, requests: int, failures: int, within: dict[str, int] | None = None) -> str:
    item: dict[str, object] = {"second": second, "name": name, "requests": requests, "failures": failures,
                               "rt_sum_ms": 1.0, "rt_max_ms": 1.0}
    if within is not None:
        item["within"] = within
    return json.dumps(item) + "\n"


def _record(*lines: str, started_at: float = 100.0) -> Record:
    return parse_record([json.dumps({"started_at": started_at}) + "\n", *lines])


KEY = threshold_key(0.25)


@pytest.mark.parametrize(("start", "end", "seconds"), [
    (100.0, 103.0, range(100, 103)),
    (100.2, 103.0, range(101, 103)),
    (100.0, 102.9, range(100, 102)),
    (100.5, 100.9, range(101, 100)),
])
def test_only_whole_seconds_inside_the_window_count(start: float, end: float, seconds: range) -> None:
    assert counted_seconds(start, end) == seconds


def test_partial_edge_seconds_are_left_out_not_apportioned() -> None:
    record = _record(_line(100, "a", 10, 0), _line(101, "a", 10, 2), _line(102, "a", 10, 0))
    count = count_client_sli(record, ClientSli(), 100.5, 102.5)
    assert (count.first_second, count.end_second, count.total, count.good) == (101, 102, 10, 8)
    assert count.problems == ()


def test_delta_lines_of_one_second_are_summed() -> None:
    record = _record(_line(100, "a", 4, 1, {KEY: 2}), _line(100, "a", 3, 0, {KEY: 3}))
    count = count_client_sli(record, ClientSli(threshold_s=0.25), 100.0, 101.0)
    assert (count.total, count.good) == (7, 5)


def test_latency_bound_counts_only_successes_within_it() -> None:
    record = _record(_line(100, "a", 10, 1, {KEY: 6}))
    count = count_client_sli(record, ClientSli(threshold_s=0.25), 100.0, 101.0)
    assert (count.total, count.good, count.bad) == (10, 6, 4)


def test_a_record_without_the_bound_is_a_problem_not_zero_good() -> None:
    record = _record(_line(100, "a", 10, 0, {threshold_key(0.5): 10}))
    count = count_client_sli(record, ClientSli(threshold_s=0.25), 100.0, 101.0)
    assert any("no latency counts for 0.25s" in p for p in count.problems)


def test_request_filter_and_dropped_arrivals() -> None:
    record = _record(_line(100, "checkout", 5, 1), _line(100, "browse", 50, 0),
                     _line(100, DROPPED_REQUEST_NAME, 3, 3))
    count = count_client_sli(record, ClientSli(requests=("checkout",)), 100.0, 101.0)
    assert (count.total, count.good, count.dropped) == (8, 4, 3)
    everything = count_client_sli(record, ClientSli(), 100.0, 101.0)
    assert (everything.total, everything.good) == (58, 54)


def test_unknown_request_names_are_named_with_the_record_s_names() -> None:
    record = _record(_line(100, "checkout", 5, 0))
    count = count_client_sli(record, ClientSli(requests=("chekout",)), 100.0, 101.0)
    assert count.total == 0
    assert count.problems == ("no request named 'chekout' in the load record (its names: checkout)",)


def test_empty_record_and_window_without_a_whole_second_are_problems() -> None:
    empty = parse_record([])
    count = count_client_sli(empty, ClientSli(), 100.0, 102.0)
    assert any("never started" in p for p in count.problems)
    short = count_client_sli(_record(_line(100, "a", 1, 0)), ClientSli(), 100.2, 100.8)
    assert any("no whole second" in p for p in short.problems)


def test_peak_error_ratio_is_the_worst_trailing_window() -> None:
    lines = [_line(100 + i, "a", 10, f) for i, f in enumerate([0, 0, 5, 5, 0, 0])]
    record = _record(*lines)
    assert peak_error_ratio(record, ClientSli(), 100.0, 106.0, 2.0) == pytest.approx(0.5)
    assert peak_error_ratio(record, ClientSli(), 100.0, 106.0, 3.0) == pytest.approx(10 / 30)
    assert peak_error_ratio(record, ClientSli(), 100.0, 101.0, 3.0) is None


def test_recent_error_ratio_counts_the_last_whole_seconds() -> None:
    record = _record(_line(100, "a", 10, 0), _line(101, "a", 10, 10))
    assert recent_error_ratio(record, ClientSli(), 102.0, 1.0) == pytest.approx(1.0)
    assert recent_error_ratio(record, ClientSli(), 102.0, 2.0) == pytest.approx(0.5)
    assert recent_error_ratio(parse_record([]), ClientSli(), 102.0, 2.0) is None
