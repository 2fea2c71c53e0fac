"""The warning before a run whose fault ends too close to a judged phase for the scrape interval (pure)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.plan import build_plan, fault_edge_warnings
from harness.reports.plan_text import describe_plan
from harness.spec.loader import load_experiment

PROFILE = Path(__file__).resolve().parent / "data" / "spec" / "loadprofiles" / "steady-peak.yaml"
LATENCY = {"name": "slow", "type": "latency", "delay": "300ms", "jitter": "20ms"}


def experiment_file(tmp_path: Path, faults: list[dict[str, Any]], *, recovery_judged: bool = True,
                    guard: str = "0s") -> Path:
    (tmp_path / "loadprofiles").mkdir(exist_ok=True)
    (tmp_path / "loadprofiles" / "steady-peak.yaml").write_text(PROFILE.read_text())
    experiment = {
        "apiVersion": "harness/v1", "kind": "Experiment", "metadata": {"name": "edges"},
        "target": {"platform": "local"},
        "slos": [{"name": "availability", "objective": 99,
                  "sli": {"ratio": {"bad": 'http_requests_total{code=~"5.."}', "total": "http_requests_total"}}}],
        "load": {"profile": "steady-peak"},
        "phases": {"warmup": "2s", "baseline": "6s", "fault": "8s", "recovery": "5s"},
        "faults": faults,
        "hypothesis": [{"slo": "availability", **({} if recovery_judged else {"phases": ["baseline", "fault"]})}],
        "evidence": {"guard": guard},
    }
    path = tmp_path / "edges.yaml"
    path.write_text(json.dumps(experiment))  # JSON is YAML
    return path


def warnings_for(tmp_path: Path, faults: list[dict[str, Any]], *, recovery_judged: bool = True,
                 guard: str = "0s", scrape_s: float | None = None) -> tuple[str, ...]:
    loaded = load_experiment(experiment_file(tmp_path, faults, recovery_judged=recovery_judged, guard=guard), {})
    plan = build_plan(loaded)
    if scrape_s is not None:
        plan = replace(plan, scrape_interval_s=scrape_s)
    return fault_edge_warnings(loaded.experiment, plan)


def test_a_latency_fault_ending_1s_before_recovery_is_said_with_the_gap_that_avoids_it(tmp_path: Path) -> None:
    [warning] = warnings_for(tmp_path, [{**LATENCY, "at": "1s", "duration": "6s"}])
    assert warning == (
        "fault slow ends 1s before the recovery phase is judged: that window is counted from the last scrape "
        "before it (up to 1s earlier, the scrape interval) and requests it delayed finish up to 320ms after its "
        "end, so recovery may count some of the fault's requests; end the fault at least 1.32s before the "
        "recovery phase, or raise evidence.guard by 320ms")


def test_ending_far_enough_before_recovery_says_nothing(tmp_path: Path) -> None:
    assert warnings_for(tmp_path, [{**LATENCY, "at": "1s", "duration": "5s"}]) == ()


def test_a_guard_band_that_covers_the_gap_says_nothing(tmp_path: Path) -> None:
    assert warnings_for(tmp_path, [{**LATENCY, "at": "1s", "duration": "6s"}], guard="500ms") == ()


def test_a_recovery_not_judged_says_nothing(tmp_path: Path) -> None:
    assert warnings_for(tmp_path, [{**LATENCY, "at": "1s", "duration": "6s"}], recovery_judged=False) == ()


def test_an_error_fault_to_the_end_of_its_phase_holds_no_requests_but_the_scrape_still_reaches_back(
        tmp_path: Path) -> None:
    [warning] = warnings_for(tmp_path, [{"name": "errors", "type": "http-error", "at": "0s", "duration": "8s",
                                         "rate": "50%"}])
    assert warning.startswith("fault errors ends 0s before the recovery phase is judged: that window is counted "
                              "from the last scrape before it (up to 1s earlier, the scrape interval), so")
    assert "end the fault at least 1s before the recovery phase, or raise evidence.guard by 1s" in warning


def test_an_instant_kill_says_nothing_even_with_a_judging_window(tmp_path: Path) -> None:
    assert warnings_for(tmp_path, [{"name": "kill", "type": "pod-kill", "at": "7500ms"}]) == ()
    assert warnings_for(tmp_path, [{"name": "kill", "type": "pod-kill", "at": "1s", "duration": "7s"}]) == ()


def test_a_longer_scrape_interval_reaches_further_back(tmp_path: Path) -> None:
    fault = {"name": "errors", "type": "http-error", "at": "1s", "duration": "5s", "rate": "50%"}
    assert warnings_for(tmp_path, [fault]) == ()
    [warning] = warnings_for(tmp_path, [fault], scrape_s=15.0)
    assert "ends 2s before the recovery phase" in warning and "up to 15s earlier" in warning
    assert "raise evidence.guard by 13s" in warning


def test_harness_plan_shows_it_under_the_faults(tmp_path: Path) -> None:
    loaded = load_experiment(experiment_file(tmp_path, [{**LATENCY, "at": "1s", "duration": "6s"}]), {})
    text = describe_plan(loaded, build_plan(loaded))
    faults = text[text.index("\nfaults:"):text.index("\nevidence:")]
    assert "  warning: fault slow ends 1s before the recovery phase is judged" in faults
