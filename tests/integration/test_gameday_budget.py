"""The game day's budget gate against a real Prometheus holding 30 days of history, backfilled with
`promtool tsdb create-blocks-from openmetrics`: one service with plenty of its error budget left,
one with too little, and `harness gameday` stopping before the second with the numbers."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.gameday.checks import budget_checks
from harness.prom.client import PromClient
from harness.prom.server import PrometheusServer
from harness.spec.loader import load_experiment
from tests.integration.conftest import REPO, harness_argv

pytestmark = pytest.mark.integration

DAY = 86400.0
STEP = 600.0  # a sample every 10 minutes: 4320 per series over 30 days
PER_STEP = 1000.0  # requests per step
ERROR_SHARE = {"healthy": 0.001, "burnt": 0.008}  # of a 1 % budget: 90 % and 20 % left


def openmetrics(now: float) -> str:
    lines = ["# TYPE shop_requests counter"]
    first = now - 30 * DAY + STEP
    steps = int(30 * DAY / STEP) - 1
    for service, share in ERROR_SHARE.items():
        for code, part in (("200", 1 - share), ("500", share)):
            lines += [f'shop_requests_total{{service="{service}",code="{code}"}} {PER_STEP * part * k:.3f} '
                      f"{first + k * STEP:.0f}" for k in range(steps + 1)]
    return "\n".join([*lines, "# EOF"]) + "\n"


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PrometheusServer]:
    folder = tmp_path / "budget"
    folder.mkdir()
    data, tsdb = folder / "data.om", folder / "tsdb"
    data.write_text(openmetrics(time.time() - 120))
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(data), str(tsdb)],
                   check=True, capture_output=True, timeout=120)
    with PrometheusServer(folder / "server", targets=(), storage_path=tsdb, retention="100y") as server:
        PromClient(server.url).check_reachable()
        yield server


def _experiment(folder: Path, service: str, prometheus_url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profile.yaml").write_text(yaml.safe_dump({
        "apiVersion": "harness/v1", "kind": "LoadProfile", "metadata": {"name": "steady"},
        "requests": [{"name": "home", "method": "GET", "path": "/"}],
        "stages": [{"duration": "5s", "users": 2, "spawn_rate": 2}]}))
    doc: dict[str, Any] = {
        "apiVersion": "harness/v1", "kind": "Experiment", "metadata": {"name": f"shop-{service}"},
        "target": {"platform": "external"}, "prometheus": {"url": prometheus_url},
        "slos": [{"name": f"{service}-availability", "objective": 99, "period": "30d",
                  "sli": {"ratio": {"bad": f'shop_requests_total{{service="{service}",code="500"}}',
                                    "total": f'shop_requests_total{{service="{service}"}}'}}}],
        "load": {"profile": "profile.yaml", "host": "http://127.0.0.1:9"},
        "phases": {"warmup": "1s", "baseline": "5s", "fault": "5s", "recovery": "5s"},
        "faults": [], "hypothesis": [{"slo": f"{service}-availability"}]}
    path = folder / f"shop-{service}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_plenty_of_budget_left_passes_and_too_little_fails_with_the_numbers(prometheus: PrometheusServer,
                                                                            tmp_path: Path) -> None:
    client = PromClient(prometheus.url)
    now = time.time()
    [healthy] = budget_checks(client, load_experiment(_experiment(tmp_path, "healthy", prometheus.url)), 0.5, now)
    [burnt] = budget_checks(client, load_experiment(_experiment(tmp_path, "burnt", prometheus.url)), 0.5, now)
    assert healthy.passed and healthy.remaining == pytest.approx(0.9, abs=0.005)
    assert not burnt.passed and burnt.remaining == pytest.approx(0.2, abs=0.005)
    assert burnt.detail == f"{burnt.remaining:.2%} of the 30d error budget left (needed 50.00%)"

    # the game day stops at its budget gate before anything runs
    _experiment(tmp_path / "experiments", "burnt", prometheus.url)
    day = tmp_path / "day.yaml"
    day.write_text(yaml.safe_dump({
        "apiVersion": "harness/v1", "kind": "GameDay", "metadata": {"name": "budget-day"},
        "experiments": [{"path": "experiments/shop-burnt.yaml"}], "budget_gate": {"min_budget_remaining": "50%"}}))
    runs = tmp_path / "runs"
    done = subprocess.run(harness_argv("gameday", str(day), "--output", str(runs), "--quiet"), capture_output=True,
                          text=True, timeout=120, cwd=REPO, env=dict(os.environ), check=False)
    assert done.returncode == 6, done.stdout + done.stderr
    assert "stopped: budget gate before shop-burnt: burnt-availability: 20.0" in done.stdout, done.stdout
    [folder] = list(runs.iterdir())
    recorded = json.loads((folder / "gameday.json").read_text())
    assert recorded["verdict"] == "REFUSED" and recorded["runs"][0]["verdict"] is None
    assert recorded["budget_checks"][0]["passed"] is False
    assert [p.name for p in folder.iterdir() if p.is_dir()] == []  # no run was started
