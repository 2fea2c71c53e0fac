"""Pure parts of the load driver: the shape's ticks, users and requested rate, record windows."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest

from harness.errors import SpecError
from harness.load.config import LoadConfig, RequestSpec, Stage, header_environment, shape_tick, stages_from_plan
from harness.load.driver import LoadRun
from harness.load.record import count_window, parse_record, read_record

HOST = "http://127.0.0.1:8080"
GET = (RequestSpec("home", "GET", "/"),)
STAGES = (Stage(2.0, 5, 10.0), Stage(3.0, 10, 5.0))


def config(**overrides: Any) -> LoadConfig:
    fields: dict[str, Any] = {"host": HOST, "stages": STAGES, "run_s": 8.0, "requests": GET, **overrides}
    return LoadConfig(**fields)


def test_shape_ticks_follow_stages_repeat_the_last_and_stop_at_run_s() -> None:
    ticks = [shape_tick(STAGES, 8.0, t) for t in (0.0, 1.0, 1.99, 2.0, 4.99, 5.0, 7.99, 8.0, 9.0)]
    assert ticks == [(5, 10.0), (5, 10.0), (5, 10.0), (10, 5.0), (10, 5.0), (10, 5.0), (10, 5.0), None, None]


def test_shape_stops_inside_a_stage_when_run_s_is_shorter() -> None:
    assert shape_tick(STAGES, 1.5, 1.0) == (5, 10.0)
    assert shape_tick(STAGES, 1.5, 1.5) is None


@pytest.mark.parametrize(
    ("t", "users"),
    [
        pytest.param(-0.1, 0, id="before_start"),
        pytest.param(0.0, 5, id="first_batch_at_once"),
        pytest.param(1.99, 5, id="first_stage"),
        pytest.param(2.0, 10, id="second_stage_batch_of_5"),
        pytest.param(7.99, 10, id="last_stage_repeated"),
        pytest.param(8.0, 0, id="after_run"),
    ],
)
def test_users_at(t: float, users: int) -> None:
    assert config().users_at(t) == users


def test_users_at_models_the_ramp_in_batches_of_floor_spawn_rate() -> None:
    up = config(stages=(Stage(5.0, 10, 4.0), Stage(5.0, 2, 1.5)), run_s=10.0)
    # up: 4 users at once, 4 more each second; down: 1 user every 1/1.5 s from the previous 10.
    assert [up.users_at(t) for t in (0.0, 0.99, 1.0, 2.0, 4.99)] == [4, 4, 8, 10, 10]
    assert [up.users_at(5.0 + t) for t in (0.0, 0.66, 0.67, 4.99)] == [9, 9, 8, 2]


def test_slow_spawn_rate_adds_one_user_per_interval() -> None:
    slow = config(stages=(Stage(10.0, 3, 0.5),), run_s=10.0)
    assert [slow.users_at(t) for t in (0.0, 1.99, 2.0, 4.0, 9.0)] == [1, 1, 2, 3, 3]


def test_requested_rps_is_users_times_throughput() -> None:
    paced = config(throughput_per_user=2.0)
    assert paced.requested_rps_at(1.0) == 10.0
    assert paced.requested_rps_at(3.0) == 20.0
    assert paced.requested_rps_at(8.5) == 0.0
    assert config().requested_rps_at(1.0) is None
    assert config(wait_min_s=0.5, wait_max_s=1.0).requested_rps_at(1.0) is None


def test_mean_requested_rps_weights_stages_by_time() -> None:
    paced = config(throughput_per_user=2.0)
    assert paced.mean_requested_rps(0.0, 2.0) == pytest.approx(10.0)
    assert paced.mean_requested_rps(1.0, 4.0) == pytest.approx((10.0 + 2 * 20.0) / 3)
    assert paced.mean_requested_rps(7.0, 9.0) == pytest.approx(10.0)  # half of it after the run
    assert config().mean_requested_rps(0.0, 2.0) is None


def test_plan_carries_stages_requests_and_pacing() -> None:
    spec = RequestSpec("order", "post", "/api/order", weight=3, json={"item": 1}, headers={"X-Test": "1"})
    plan = config(throughput_per_user=1.5, requests=(spec,)).to_plan(Path("/tmp/record.jsonl"))
    assert stages_from_plan(plan) == STAGES
    assert plan["run_s"] == 8.0
    assert plan["requests"] == [
        {"name": "order", "method": "POST", "path": "/api/order", "weight": 3, "json": {"item": 1},
         "headers": {"X-Test": {"env": "HARNESS_LOAD_HEADER_0_0"}}}
    ]  # fmt: skip
    assert plan["wait"] == {"throughput": 1.5}
    assert plan["record_path"] == "/tmp/record.jsonl"
    assert config(wait_min_s=0.1, wait_max_s=0.2).to_plan(Path("r"))["wait"] == {"min": 0.1, "max": 0.2}


def test_plan_names_the_built_in_users_client() -> None:
    assert config().to_plan(Path("r"))["client"] == "requests"
    assert config(client="fasthttp").to_plan(Path("r"))["client"] == "fasthttp"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"stages": ()}, "stages: at least one stage", id="no_stages"),
        pytest.param({"stages": (Stage(0.0, 1, 1.0),)}, "stages[0]: need duration_s > 0", id="zero_duration"),
        pytest.param({"run_s": 0.0}, "run_s must be a positive", id="zero_run"),
        pytest.param({"requests": ()}, "give either requests or a locustfile", id="nothing_to_send"),
        pytest.param(
            {"requests": (RequestSpec("x", "FETCH", "/"),)}, "requests[0]: need a name", id="method"
        ),
        pytest.param({"requests": (RequestSpec("x", "GET", "api"),)}, "path starting with /", id="path"),
        pytest.param({"throughput_per_user": 1.0, "wait_min_s": 1.0}, "not both", id="two_paces"),
        pytest.param({"throughput_per_user": 0.0}, "throughput_per_user must be > 0", id="zero_pace"),
        pytest.param({"wait_min_s": 2.0, "wait_max_s": 1.0}, "0 <= min <= max", id="wait_order"),
        pytest.param({"wait_min_s": 2.0}, "go together", id="wait_half"),
        pytest.param({"client": "httpx"}, "client must be one of requests, fasthttp, got 'httpx'", id="client"),
        pytest.param({"client": "fasthttp", "locustfile": Path("users.py")},
                     "client applies to the built-in requests user only; a locustfile picks its own User classes",
                     id="client_with_locustfile"),
    ],
)
def test_invalid_config_is_a_spec_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as err:
        config(**kwargs)
    assert message in str(err.value)
    assert str(err.value).startswith("load: ")


def test_bad_host_is_named() -> None:
    with pytest.raises(
        SpecError, match=re.escape("host must start with http:// or https://, got '127.0.0.1:80'")
    ):
        LoadConfig(host="127.0.0.1:80", stages=STAGES, run_s=1.0, requests=GET)


RECORD = [
    '{"started_at":100.25}\n',
    '{"second":100,"users":2}\n',
    '{"second":100,"name":"a","requests":4,"failures":1,"rt_sum_ms":9.0,"rt_max_ms":3.0}\n',
    '{"second":101,"name":"a","requests":10,"failures":2,"rt_sum_ms":9.0,"rt_max_ms":3.0}\n',
    '{"second":101,"name":"b","requests":6,"failures":0,"rt_sum_ms":9.0,"rt_max_ms":3.0}\n',
    '{"second":102,"name":"a","requests":8,"failures":0,"rt_sum_ms":9.0,"rt_max_ms":3.0}\n',
    # a late delta for second 101 (a request that ended after 101 was written)
    '{"second":101,"name":"a","requests":2,"failures":2,"rt_sum_ms":1500.0,"rt_max_ms":1500.0}\n',
    '{"stopped_at":103.5}\n',
    '{"second":103,"name":"a","requests":',  # still being written
]


def test_record_sums_deltas_and_skips_a_line_being_written() -> None:
    record = parse_record(RECORD)
    assert record.started_at == 100.25
    assert record.stopped_at == 103.5
    assert record.counts[101] == {"a": (12, 4), "b": (6, 0)}
    assert 103 not in record.counts
    assert record.users == {100: 2}


def test_window_on_whole_seconds_is_exact() -> None:
    window = count_window(parse_record(RECORD), 101.0, 103.0, requested_rps=15.0)
    assert (window.requests, window.failures) == (26, 4)
    assert window.by_name == {"a": (20, 4), "b": (6, 0)}
    assert window.achieved_rps == 13.0
    assert window.requested_rps == 15.0


def test_window_apportions_partial_edge_seconds_pro_rata() -> None:
    # [100.5, 102.25): half of second 100 (4 -> 2), all of 101 (18), a quarter of 102 (8 -> 2)
    window = count_window(parse_record(RECORD), 100.5, 102.25, requested_rps=None)
    assert window.requests == 22
    assert window.failures == 5  # 0.5 + 4 + 0
    assert window.by_name == {"a": (16, 5), "b": (6, 0)}
    assert window.achieved_rps == pytest.approx(22 / 1.75)


def test_window_inside_one_second_and_outside_the_data() -> None:
    assert count_window(parse_record(RECORD), 101.25, 101.75, None).requests == 9
    empty = count_window(parse_record(RECORD), 200.0, 210.0, None)
    assert (empty.requests, empty.failures, empty.achieved_rps, dict(empty.by_name)) == (0, 0, 0.0, {})


def test_the_second_in_which_locust_stopped_counts_only_its_first_part() -> None:
    lines = ['{"second":50,"name":"a","requests":10,"failures":0,"rt_sum_ms":1.0,"rt_max_ms":1.0}\n',
             '{"stopped_at":50.5}\n']
    # all 10 requests started in [50, 50.5): a window ending at the stop holds them all, not half
    assert count_window(parse_record(lines), 49.0, 50.5, None).requests == 10
    assert count_window(parse_record(lines), 50.25, 51.0, None).requests == 5


def test_window_needs_end_after_start() -> None:
    with pytest.raises(ValueError, match=r"needs end > start, got \[101.0, 101.0\)"):
        count_window(parse_record(RECORD), 101.0, 101.0, None)


def test_missing_record_reads_as_empty(tmp_path: Path) -> None:
    record = read_record(tmp_path / "none.jsonl")
    assert (record.started_at, record.counts) == (None, {})


class _FinishedProc:
    pid = 12345

    def poll(self) -> int:
        return 0


def test_load_run_windows_use_offsets_from_started_at(tmp_path: Path) -> None:
    path = tmp_path / "record.jsonl"
    path.write_text("".join(RECORD))
    run = LoadRun(
        config(stages=(Stage(10.0, 4, 10.0),), run_s=10.0, throughput_per_user=2.5),
        cast("subprocess.Popen[bytes]", _FinishedProc()),
        started_at=100.25,
        log_path=tmp_path / "locust.log",
        record_path=path,
        clock=lambda: 500.0,
    )
    window = run.window(100.0, 102.0)
    assert window.requests == 22
    assert window.requested_rps == pytest.approx(10.0 * 1.75 / 2)  # nothing asked for before 100.25
    latest = run.latest(2.0)  # the run stopped at 103.5: the window ends at 104
    assert (latest.start, latest.end, latest.requests) == (102.0, 104.0, 8)
    assert not run.is_running()


def test_header_values_travel_in_the_environment_not_in_the_plan_file(tmp_path: Path) -> None:
    secret = "Bearer s3cr3t"
    config = LoadConfig("http://127.0.0.1:1", (Stage(1.0, 1, 1.0),), 1.0,
                        requests=(RequestSpec("a", "GET", "/", headers={"Authorization": secret}),))
    assert secret not in json.dumps(config.to_plan(tmp_path / "record.jsonl"))
    assert header_environment(config) == {"HARNESS_LOAD_HEADER_0_0": secret}
