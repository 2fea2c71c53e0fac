"""Distributed load without processes: the record merged across workers, the checks of `load.workers`
and its companions (exit 2 before anything starts), and the shortfall a lost worker explains."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import SpecError
from harness.load.config import MAX_LOCAL_WORKERS, MAX_REMOTE_WORKERS, LoadConfig, RequestSpec, Stage
from harness.load.record import count_window, parse_record
from harness.load.shortfall import explain_shortfall
from harness.run.load_worker import parse_master
from harness.run.loadconfig import local_workers
from harness.spec import models
from harness.spec.loader import load_experiment

REPO = Path(__file__).resolve().parents[2]
T = 1_800_000_000


def lines(*items: dict[str, Any]) -> list[str]:
    return [json.dumps(item) + "\n" for item in items]


def test_users_are_summed_across_workers_and_counts_add_up() -> None:
    record = parse_record(lines(
        {"started_at": T + 0.4},
        {"worker": "a", "pid": 11, "hostname": "h1", "skew_s": 0.001, "at": T},
        {"worker": "b", "pid": 12, "hostname": "h2", "skew_s": -0.3, "at": T},
        {"second": T + 1, "users": 5, "worker": "a"},
        {"second": T + 1, "users": 5, "worker": "b"},
        {"second": T + 1, "workers": 2},
        {"second": T + 1, "name": "home", "requests": 10, "failures": 0, "rt_sum_ms": 20.0, "rt_max_ms": 3.0},
        {"second": T + 1, "name": "home", "requests": 9, "failures": 1, "rt_sum_ms": 18.0, "rt_max_ms": 2.0},
        # a worker's line for the same second arriving again (an in-flight request finishing late) is a delta
        {"second": T + 1, "name": "home", "requests": 1, "failures": 0, "rt_sum_ms": 2.0, "rt_max_ms": 2.0},
        {"second": T + 2, "users": 4, "worker": "a"},
        {"worker_lost": "b", "at": T + 2.5, "state": "missing"},
        {"second": T + 2, "workers": 1},
        {"stopped_at": T + 3.0},
    ))
    assert record.users == {T + 1: 10, T + 2: 4}
    assert record.workers == {T + 1: 2, T + 2: 1}
    assert record.counts[T + 1]["home"] == (20, 1)
    assert [e.kind for e in record.worker_events] == ["hello", "hello", "lost"]
    assert record.worker_events[1].detail == {"pid": 12, "hostname": "h2", "skew_s": -0.3}
    assert [e.worker for e in record.workers_lost()] == ["b"]
    window = count_window(record, T + 1, T + 2, requested_rps=None)
    assert window.requests == 20 and window.failures == 1 and window.mean_users == 10


def test_the_same_second_of_a_single_process_is_overwritten_not_summed() -> None:
    # the single-process recorder writes one users line per second: a repeat replaces it
    record = parse_record(lines({"second": T, "users": 3}, {"second": T, "users": 4}))
    assert record.users == {T: 4}


def test_a_refused_worker_is_an_event_with_its_reason() -> None:
    record = parse_record(lines({"worker_refused": "c", "reason": "another plan", "at": T}))
    assert record.worker_events[0].kind == "refused"
    assert record.worker_events[0].detail["reason"] == "another plan"


def config(**kwargs: Any) -> LoadConfig:
    base: dict[str, Any] = {"host": "http://127.0.0.1:1", "stages": (Stage(5, 10, 10),), "run_s": 10.0,
                            "requests": (RequestSpec("home", "GET", "/"),)}
    return LoadConfig(**{**base, **kwargs})


def test_distributed_is_more_than_one_local_process_or_any_remote_one() -> None:
    assert not config().distributed and config().expected_workers == 0
    assert config(workers=2).expected_workers == 2
    assert config(workers=0, remote_workers=3, master_port=5557).expected_workers == 3
    assert config(workers=1, remote_workers=1, master_port=5557).expected_workers == 2


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"workers": 0}, "workers must be 1 to 64"),
    ({"workers": MAX_LOCAL_WORKERS + 1}, "workers must be 1 to 64"),
    ({"remote_workers": MAX_REMOTE_WORKERS + 1, "master_port": 5557}, "remote_workers must be 0 to 1000"),
    ({"remote_workers": 1}, "remote workers need a fixed master port"),
    ({"workers": 2, "stages": (), "arrival_rate": 10.0}, "an arrival load runs in one process"),
    ({"workers": 2, "workers_timeout_s": 0.0}, "workers_timeout must be a positive number"),
])
def test_bad_worker_settings_are_spec_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        config(**kwargs)


def test_the_spec_limits_are_the_drivers() -> None:
    assert (models.MAX_LOCAL_WORKERS, models.MAX_REMOTE_WORKERS) == (MAX_LOCAL_WORKERS, MAX_REMOTE_WORKERS)


def test_a_lost_worker_is_the_reason_of_a_shortfall() -> None:
    lost = ("load local worker 1 (pid 123) was lost 12.0 s into the load: it was killed by SIGKILL",)
    shortfall = explain_shortfall(50.0, 80.0, 0.01, 40.0, 2.0, 0.95, workers_lost=lost)
    assert shortfall is not None and shortfall.kind == "generator"
    assert "killed by SIGKILL" in shortfall.reason and "50.0 req/s of 80.0" in shortfall.reason
    # rebalanced in time: no shortfall, nothing to explain
    assert explain_shortfall(79.0, 80.0, 0.01, 40.0, 2.0, 0.95, workers_lost=lost) is None


# -- the experiment file: exit 2 before anything starts ----------------------------------------------------

PROFILE = {"apiVersion": "harness/v1", "kind": "LoadProfile", "metadata": {"name": "p"},
           "requests": [{"name": "home", "path": "/"}], "stages": [{"duration": "5s", "users": 4, "spawn_rate": 4}]}


def experiment(folder: Path, load: dict[str, Any], profile: dict[str, Any] | None = None) -> Path:
    (folder / "profile.yaml").write_text(yaml.safe_dump(profile or PROFILE))
    doc = {"apiVersion": "harness/v1", "kind": "Experiment", "metadata": {"name": "dist"},
           "target": {"platform": "local"},
           "slos": [{"name": "avail", "objective": 99, "sli": {"ratio": {"bad": "a", "total": "b"}}}],
           "load": {"profile": "profile.yaml", **load}, "hypothesis": [{"slo": "avail"}]}
    path = folder / "dist.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize(("load", "message"), [
    ({"workers": 0}, "load: workers: 0 leaves nobody to send load"),
    ({"workers": 65}, "load.workers"),
    ({"workers": "many"}, "load.workers"),
    ({"remote_workers": 2}, "remote_workers need 'master: HOST:PORT'"),
    ({"remote_workers": 1, "master": "somewhere"}, "expected HOST:PORT"),
    ({"workers": 2, "master": "127.0.0.1:99999"}, "expected HOST:PORT"),
    ({"workers": 5}, "load.workers: 5 workers for a profile that runs at most 4 users: 1 of them would send "
                     "nothing; use at most 4 workers"),
    ({"workers_timeout": "0s"}, "load.workers_timeout"),
])
def test_bad_worker_fields_name_the_field(tmp_path: Path, load: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_experiment(experiment(tmp_path, load))
    assert message in "\n".join(caught.value.problems)
    assert str(tmp_path / "dist.yaml") in "\n".join(caught.value.problems)


def test_workers_with_an_arrival_profile_are_refused(tmp_path: Path) -> None:
    profile = {**PROFILE, "stages": None, "arrival": {"rate": 50}}
    del profile["stages"]
    with pytest.raises(SpecError, match=r"load\.workers: the load profile is an arrival load"):
        load_experiment(experiment(tmp_path, {"workers": 2}, profile))


def test_auto_is_one_worker_per_core_and_remote_alone_runs_none_here(tmp_path: Path) -> None:
    auto = load_experiment(experiment(tmp_path, {"workers": "auto"})).experiment.load
    assert local_workers(auto) >= 1
    remote = load_experiment(experiment(tmp_path, {"remote_workers": 2, "master": "0.0.0.0:5557"}))
    assert local_workers(remote.experiment.load) == 0
    assert remote.experiment.load.master_address == ("0.0.0.0", 5557)
    assert local_workers(load_experiment(experiment(tmp_path, {})).experiment.load) == 1


def test_a_taken_master_port_is_exit_2_and_nothing_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = experiment(tmp_path, {"workers": 2, "master": f"127.0.0.1:{port}"})
        done = subprocess.run([sys.executable, "-m", "harness", "run", str(path), "--output", str(tmp_path / "runs"),
                               "--quiet"], capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert f"load.master: the load master cannot listen: port {port} on 127.0.0.1 is taken" in done.stderr
    assert "nothing was started" in done.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("value", ["nohost", ":5557", "host:", "host:0", "host:70000"])
def test_load_worker_master_must_be_host_and_port(value: str) -> None:
    with pytest.raises(SpecError, match="--master: expected HOST:PORT"):
        parse_master(value)
    assert parse_master("10.0.0.5:5557") == ("10.0.0.5", 5557)
    assert parse_master("[::1]:5557") == ("::1", 5557)


def test_the_plan_says_who_sends_the_load(tmp_path: Path) -> None:
    from harness.plan import build_plan
    from harness.reports.plan_text import describe_plan

    single = load_experiment(experiment(tmp_path, {}))
    assert "load processes" not in describe_plan(single, build_plan(single))
    remote = load_experiment(experiment(tmp_path, {"workers": 1, "remote_workers": 2, "master": "0.0.0.0:5557"}))
    text = describe_plan(remote, build_plan(remote))
    assert ("load processes: a Locust master on 0.0.0.0:5557 with 1 local workers, and 2 remote workers "
            "(`harness load-worker --master MASTER_HOST:5557 dist.yaml` on their machines)") in text


def test_load_worker_bad_input_is_exit_2_and_starts_nothing(tmp_path: Path) -> None:
    good = experiment(tmp_path, {"remote_workers": 1, "master": "127.0.0.1:5557"})
    for argv, said in [
        (["--master", "nohost", str(good)], "--master: expected HOST:PORT (the run's load.master), got 'nohost'"),
        (["--master", "127.0.0.1:5557", str(tmp_path / "missing.yaml")], "missing.yaml"),
    ]:
        done = subprocess.run([sys.executable, "-m", "harness", "load-worker", *argv], capture_output=True,
                              text=True, cwd=REPO, timeout=60, check=False)
        assert done.returncode == 2, done.stderr
        assert said in done.stderr
        assert "connecting to the master" not in done.stderr
