"""What `harness plan` prints: fault commands, verify/expect_down lines, the load rate, the scrape interval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main

PROFILE = {
    "apiVersion": "harness/v1", "kind": "LoadProfile", "metadata": {"name": "wording"},
    "requests": [{"name": "home", "method": "GET", "path": "/", "weight": 1}],
    "stages": [{"duration": "5s", "users": 10, "spawn_rate": 10}, {"duration": "5s", "users": 25, "spawn_rate": 10}],
    "wait": {"throughput": 2},
}


def write(tmp_path: Path, profile: dict[str, Any] | None = None, **overrides: Any) -> Path:
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile or PROFILE, sort_keys=False))
    doc: dict[str, Any] = {
        "apiVersion": "harness/v1", "kind": "Experiment", "metadata": {"name": "wording"},
        "target": {"platform": "external"},
        "prometheus": {"url": "http://127.0.0.1:9090"},
        "slos": [{"name": "avail", "objective": 99,
                  "sli": {"ratio": {"bad": 'http_requests_total{code=~"5.."}', "total": "http_requests_total"}}}],
        "load": {"profile": "profile.yaml", "host": "http://127.0.0.1:8080"},
        "phases": {"warmup": "2s", "baseline": "6s", "fault": "20s", "recovery": "5s"},
        "faults": [],
        "hypothesis": [{"slo": "avail"}],
    }
    doc.update(overrides)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def plan_text(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["plan", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "nothing was started or changed" in out
    return out


FAULTS = [
    {"name": "stop-worker", "type": "process", "at": "1s", "duration": "5s",
     "start": ["systemctl", "stop", "worker"], "stop": ["systemctl", "start", "worker"],
     "verify": {"query": "up{job=\"worker\"} == 0", "within": "15s"},
     "expect_down": [{"instance": "10.0.0.2:8080"}, {"job": "worker", "zone": "a"}]},
    {"name": "flag-on", "type": "http", "at": "8s", "duration": "4s",
     "start": {"method": "PUT", "url": "https://admin:s3cret@flags.example:8443/api/flags/slow?token=abc"},
     "stop": {"method": "DELETE", "url": "http://flags.example/api/flags/slow?token=abc"},
     "verify": {"probe": {"url": "http://user:pw@shop.example:8080/health?key=x", "method": "HEAD",
                          "expect_status": [503]}}},
]


def test_fault_commands_verify_and_expect_down(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = plan_text(write(tmp_path, faults=FAULTS), capsys).splitlines()
    assert "    start: systemctl stop worker" in lines
    assert "    stop: systemctl start worker" in lines
    assert '    verify: query up{job="worker"} == 0 within 15s' in lines
    assert "    expect down: instance=10.0.0.2:8080" in lines
    assert "    expect down: job=worker, zone=a" in lines
    assert "    start: PUT https://flags.example:8443/api/flags/slow" in lines
    assert "    stop: DELETE http://flags.example/api/flags/slow" in lines
    assert "    verify: probe HEAD http://shop.example:8080/health within 10s" in lines
    text = "\n".join(lines)
    for secret in ("s3cret", "admin", "token=abc", "pw@", "key=x"):
        assert secret not in text
    assert any(line.startswith("  stop-worker") and "on the external system" in line for line in lines)


def test_load_rate_is_users_times_throughput(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = plan_text(write(tmp_path), capsys)
    assert ("load: 10 users x 2 = 20 req/s, 25 users x 2 = 50 req/s requested (the last stage repeats)"
            in text.splitlines())


def test_load_rate_without_throughput(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = {**PROFILE, "wait": {"min": "0.1s", "max": "0.5s"}}
    text = plan_text(write(tmp_path, profile=profile), capsys)
    assert ("load: 10 users for 5s, 25 users for 5s; no requested rate (think time, not a throughput)"
            in text.splitlines())


SCRAPE = [
    ("external-undeclared", {}, "(scrape interval learned from Prometheus at run time "
                                "(targets API, else the spacing of raw samples))"),
    ("external-declared", {"scrape_interval": "15s"},
     "(scrape interval declared 15s (an override; a warning is printed when Prometheus disagrees))"),
]


@pytest.mark.parametrize(("extra", "wording"), [s[1:] for s in SCRAPE], ids=[s[0] for s in SCRAPE])
def test_scrape_interval_wording(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 extra: dict[str, str], wording: str) -> None:
    prometheus = {"url": "http://127.0.0.1:9090", **extra}
    text = plan_text(write(tmp_path, prometheus=prometheus), capsys)
    evidence = next(line for line in text.splitlines() if line.startswith("evidence:"))
    assert evidence.endswith(wording)
