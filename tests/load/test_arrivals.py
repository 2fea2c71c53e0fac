"""The open model (arrival rate): requests start on schedule whatever the system does, up to a cap.

Real Locust against the counting server of test_load_driver (server-side truth).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import LoadError, SpecError
from harness.load import LoadConfig, RequestSpec, Stage, check_locustfile, start_load
from harness.load.config import default_max_in_flight
from harness.load.record import DROPPED_REQUEST_NAME, read_record
from harness.load.shortfall import window_shortfall
from tests.load.test_load_driver import CountingServer, _assert_gone, serving

CATALOG = (RequestSpec("fast", "GET", "/ok"),)
SLOW = (RequestSpec("slow", "GET", "/slow"),)  # the server answers after 2 s


@pytest.fixture
def server() -> Iterator[CountingServer]:
    with serving(CountingServer()) as srv:
        yield srv


def _arrival(host: str, rate: float, run_s: float, **options: object) -> LoadConfig:
    return LoadConfig(host=host, stages=(), run_s=run_s, arrival_rate=rate, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param({"stages": (Stage(1.0, 1, 1.0),)}, "not both", id="stages-and-arrival"),
        pytest.param({"throughput_per_user": 2.0}, "a wait has no meaning", id="wait-with-arrival"),
        pytest.param({"arrival_rate": 0.0}, "arrival_rate must be a positive", id="zero-rate"),
        pytest.param({"arrival_rate": None, "stages": (Stage(1.0, 1, 1.0),), "max_in_flight": 3},
                     "max_in_flight needs an arrival_rate", id="cap-without-rate"),
    ],
)
def test_arrival_config_problems_are_named(options: dict[str, object], expected: str) -> None:
    fields: dict[str, object] = {"host": "http://127.0.0.1:9", "stages": (), "run_s": 5.0, "requests": CATALOG,
                                 "arrival_rate": 10.0, **options}
    with pytest.raises(SpecError, match=expected):
        LoadConfig(**fields)  # type: ignore[arg-type]


def test_arrival_requested_rate_and_default_cap() -> None:
    config = _arrival("http://127.0.0.1:9", 40.0, 10.0, requests=CATALOG, timeout_s=0.5)
    assert config.requested_rps_at(3.0) == 40.0
    assert config.requested_rps_at(10.0) == 0.0
    assert config.mean_requested_rps(8.0, 12.0) == pytest.approx(20.0)  # half of it after the run
    assert config.in_flight_cap == default_max_in_flight(40.0, 0.5) == 20
    assert config.to_plan(Path("r.jsonl"))["arrival"] == {"rate": 40.0, "max_in_flight": 20}
    assert config.users_at(3.0) == 0


@pytest.mark.integration
def test_arrivals_start_on_schedule_and_match_the_server(server: CountingServer, tmp_path: Path) -> None:
    run = start_load(_arrival(server.url, 40.0, 4.0, requests=CATALOG), tmp_path)
    try:
        assert run.wait(15.0) == 0
    finally:
        run.stop()
    _assert_gone(run)
    stopped_at = read_record(run.record_path).stopped_at
    assert stopped_at is not None
    total = run.window(math.floor(run.started_at), math.ceil(stopped_at) + 1.0)
    assert total.requests == len(server.arrivals) == 160  # 40/s for 4 s, arrival k at k / 40 s
    assert total.failures == 0 and total.dropped == 0
    times = sorted(t for t, _ in server.arrivals)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert statistics.median(gaps) == pytest.approx(0.025, abs=0.005)


@pytest.mark.integration
def test_a_stuck_system_does_not_slow_the_arrivals(server: CountingServer, tmp_path: Path) -> None:
    """Closed-model users would wait on the 2 s answers; arrivals keep coming: timeouts, then drops."""
    config = _arrival(server.url, 20.0, 3.0, requests=SLOW, timeout_s=0.5, max_in_flight=4)
    run = start_load(config, tmp_path)
    try:
        assert run.wait(20.0) == 0
    finally:
        run.stop()
    _assert_gone(run)
    stopped_at = read_record(run.record_path).stopped_at
    assert stopped_at is not None
    total = run.window(math.floor(run.started_at), math.ceil(stopped_at) + 1.0)
    assert total.requests == 60  # every arrival is either sent or recorded as dropped
    assert total.failures == 60  # 0.5 s timeouts, and the dropped ones
    sent = total.by_name["slow"][0]
    assert total.dropped == total.by_name[DROPPED_REQUEST_NAME][0] == 60 - sent
    assert 20 <= sent <= 32  # 4 in flight, each timing out after 0.5 s: ~8/s
    shortfall = window_shortfall(total, None, 0.8)
    assert shortfall is not None and shortfall.kind == "system"
    assert "max_in_flight" in shortfall.reason


OPEN_MODEL_LOCUSTFILE = """
from locust import HttpUser, task


class Shopper(HttpUser):
    def on_start(self):
        self.client.get("/login", name="login")

    @task
    def browse(self):
        self.client.get("/ok", name="browse")
"""


@pytest.mark.integration
def test_user_locustfile_in_the_open_model(server: CountingServer, tmp_path: Path) -> None:
    """Instances are borrowed per arrival: on_start runs once per instance, never once per request."""
    locustfile = tmp_path / "shopper.py"
    locustfile.write_text(OPEN_MODEL_LOCUSTFILE)
    run = start_load(_arrival(server.url, 30.0, 3.0, locustfile=locustfile, max_in_flight=5), tmp_path / "run")
    try:
        assert run.wait(15.0) == 0
    finally:
        run.stop()
    _assert_gone(run)
    paths = [path for _, path in server.arrivals]
    assert paths.count("/ok") == 90
    assert 1 <= paths.count("/login") <= 5


@pytest.mark.parametrize(
    ("source", "open_model", "expected"),
    [
        pytest.param(
            "from locust import HttpUser, TaskSet, task\n\n"
            "class Flow(TaskSet):\n    @task\n    def step(self):\n        pass\n\n"
            "class U(HttpUser):\n    tasks = [Flow]\n",
            True, "U.Flow", id="taskset-in-open-model",
        ),
    ],
)
def test_nested_taskset_is_refused_for_arrivals(source: str, open_model: bool, expected: str,
                                                tmp_path: Path) -> None:
    locustfile = tmp_path / "flow.py"
    locustfile.write_text(source)
    assert check_locustfile(locustfile).users == ("U",)  # fine for a closed model
    with pytest.raises(LoadError, match=expected):
        check_locustfile(locustfile, open_model=open_model)


@pytest.mark.parametrize(
    ("wait", "expected"),
    [
        pytest.param("constant_throughput(2)", 2.0, id="constant-throughput"),
        pytest.param("constant_pacing(0.25)", 4.0, id="constant-pacing"),
        pytest.param("between(1, 2)", None, id="between-unknown"),
    ],
)
def test_locustfile_pacing_gives_the_requested_rate(wait: str, expected: float | None, tmp_path: Path) -> None:
    locustfile = tmp_path / "paced.py"
    locustfile.write_text(
        "from locust import HttpUser, between, constant_pacing, constant_throughput\n\n"
        f"class U(HttpUser):\n    wait_time = {wait}\n    tasks = [lambda user: None]\n"
    )
    found = check_locustfile(locustfile)
    assert found.throughput_per_user == (pytest.approx(expected) if expected is not None else None)
