"""Shortfall attribution: the system (closed model, dropped arrivals) or the load generator."""

from __future__ import annotations

import pytest

from harness.load.record import DROPPED_REQUEST_NAME, count_window, parse_record
from harness.load.shortfall import Shortfall, explain_shortfall, window_shortfall


@pytest.mark.parametrize(
    ("args", "kind", "phrase"),
    [
        # 64 users paced at 1.25 req/s (80 requested), responses 1.21 s: at most 64 / 1.21 = 52.9 req/s
        pytest.param(dict(achieved_rps=52.0, requested_rps=80.0, mean_response_s=1.21, mean_users=64.0,
                          throughput_per_user=1.25), "system",
                     "load fell to 52.0 req/s of 80.0 requested because responses took 1.21 s on average "
                     "(closed model", id="system_slow_closed_model"),
        pytest.param(dict(achieved_rps=52.0, requested_rps=80.0, mean_response_s=0.010, mean_users=80.0,
                          throughput_per_user=1.0), "generator",
                     "the load generator reached 52.0 req/s of 80.0 requested while responses took 0.010 s "
                     "on average: the generator could not keep up", id="generator_saturated"),
        pytest.param(dict(achieved_rps=5.0, requested_rps=None, mean_response_s=1.0, mean_users=10.0,
                          throughput_per_user=None), None, "", id="no_requested_rate"),
        pytest.param(dict(achieved_rps=0.0, requested_rps=0.0, mean_response_s=None, mean_users=0.0,
                          throughput_per_user=1.0), None, "", id="nothing_requested"),
        pytest.param(dict(achieved_rps=76.0, requested_rps=80.0, mean_response_s=1.21, mean_users=80.0,
                          throughput_per_user=1.0), None, "", id="enough_load"),
        pytest.param(dict(achieved_rps=30.0, requested_rps=40.0, mean_response_s=1.0, mean_users=1.0,
                          throughput_per_user=None, dropped=40), "system",
                     "because 40 arrivals found max_in_flight requests still unanswered", id="arrival_dropped"),
        pytest.param(dict(achieved_rps=30.0, requested_rps=40.0, mean_response_s=0.002, mean_users=1.0,
                          throughput_per_user=None), "generator", "could not keep up",
                     id="arrival_generator_behind"),
        pytest.param(dict(achieved_rps=30.0, requested_rps=40.0, mean_response_s=None, mean_users=None,
                          throughput_per_user=None), "generator", "responses took an unknown time",
                     id="no_response_times"),
    ],
)
def test_explain_shortfall(args: dict[str, float], kind: str | None, phrase: str) -> None:
    found = explain_shortfall(**args, min_ratio=0.9)  # type: ignore[arg-type]
    if kind is None:
        assert found is None
    else:
        assert isinstance(found, Shortfall) and found.kind == kind
        assert phrase in found.reason


RECORD = [
    '{"second":10,"users":4}\n',
    '{"second":11,"users":8}\n',
    '{"second":10,"name":"a","requests":4,"failures":0,"rt_sum_ms":400.0,"rt_max_ms":100.0}\n',
    '{"second":11,"name":"a","requests":2,"failures":0,"rt_sum_ms":1000.0,"rt_max_ms":900.0}\n',
    '{"second":11,"name":"a","requests":2,"failures":1,"rt_sum_ms":3000.0,"rt_max_ms":2000.0}\n',
    f'{{"second":11,"name":"{DROPPED_REQUEST_NAME}","requests":5,"failures":5,"rt_sum_ms":0,"rt_max_ms":0}}\n',
]


def test_window_keeps_mean_response_and_users_leaving_dropped_arrivals_out() -> None:
    record = parse_record(RECORD)
    assert record.rt_sum_ms[11] == {"a": 4000.0, DROPPED_REQUEST_NAME: 0.0}
    window = count_window(record, 10.0, 12.0, requested_rps=20.0)
    assert window.mean_response_s == pytest.approx(4400.0 / 8 / 1000)
    assert window.mean_users == 6.0
    assert window.dropped == 5
    half = count_window(record, 10.5, 11.0, None)  # half of second 10 only
    assert half.mean_response_s == pytest.approx(0.1)
    assert half.mean_users == 4.0
    assert count_window(record, 20.0, 21.0, None).mean_response_s is None
    assert count_window(record, 20.0, 21.0, None).mean_users is None


def test_window_shortfall_sends_only_the_sent_requests_as_achieved() -> None:
    window = count_window(parse_record(RECORD), 10.0, 12.0, requested_rps=20.0)
    found = window_shortfall(window, throughput_per_user=None, min_ratio=0.9)
    assert found is not None and found.kind == "system"
    assert found.reason.startswith("load fell to 4.0 req/s of 20.0 requested because 5 arrivals")
