"""`harness gate` for real: the bundled experiments as a CI job would run them, and a cancelled CI job."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from junitparser import Error, Failure, JUnitXml, TestSuite

from tests.integration.chromium import band_columns, plot_areas, screenshot, x_of
from tests.integration.conftest import (
    REPO,
    availability_slo,
    harness_argv,
    read_json,
    wait_no_leftovers,
    with_phases,
    write_experiment,
)
from tests.reports.test_junit_and_checks import SCHEMA

pytestmark = pytest.mark.integration

GATE_TIMEOUT_S = 400.0
GATE_PHASES = {"warmup": 2.0, "baseline": 8.0, "fault": 12.0, "recovery": 8.0}


def _suites(path: Path) -> dict[str, TestSuite]:
    return {suite.name: suite for suite in JUnitXml.fromfile(str(path)) if isinstance(suite, TestSuite)}


def _line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def _bundled_copies(checkout: Path) -> None:
    """checkout/experiments/: every bundled experiment with shorter phases. The demo game day runs them
    as shipped (tests/integration/test_gameday.py); what is tested here is the gate around them."""
    for source in sorted((REPO / "experiments").glob("*.yaml")):
        with_phases(source, checkout / "experiments" / source.name, GATE_PHASES)


def test_the_bundled_experiments_as_a_ci_gate(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"  # the working folder, as a CI job's checkout of the repository
    _bundled_copies(checkout)
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_SHA": "f00d"}
    junit, markdown = tmp_path / "out" / "junit.xml", tmp_path / "out" / "summary.md"
    html = tmp_path / "out" / "report.html"
    done = subprocess.run(harness_argv("gate", "experiments/", "--junit", str(junit), "--markdown", str(markdown),
                                       "--html", str(html), "--output", str(tmp_path / "runs"), "--quiet"),
                          capture_output=True, text=True, timeout=GATE_TIMEOUT_S, cwd=checkout, env=env,
                          check=False)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "== experiment 1 of 2: checkout-latency-regression" in done.stderr
    assert "== experiment 2 of 2: shop-survives-replica-kill" in done.stderr
    assert "gate FAIL (exit 1): 1 PASS, 1 FAIL" in done.stdout

    suites = _suites(junit)
    assert set(suites) == {"checkout-latency-regression", "shop-survives-replica-kill"}
    failing = [(suite.name, case.name, case.result[0]) for suite in suites.values() for case in suite if case.result]
    [(suite_name, case_name, failure)] = failing  # the designed failure, and nothing else
    assert (suite_name, case_name) == ("checkout-latency-regression", "shop-latency: phase fault")
    assert isinstance(failure, Failure) and failure.type == "FAIL" and "above the budget" in str(failure.message)
    experiment = checkout / "experiments" / "checkout-latency-regression.yaml"
    hypothesis_line = _line_of(experiment, "- slo: shop-latency")
    [case] = [c for c in suites["checkout-latency-regression"] if c.name == "shop-latency: phase fault"]
    assert case._elem.get("file") == "experiments/checkout-latency-regression.yaml"
    assert case._elem.get("line") == str(hypothesis_line)
    assert GATE_PHASES["fault"] - 5 <= float(case.time) <= GATE_PHASES["fault"] + 5  # the fault phase's judged seconds
    properties = {p.name: p.value for p in suites["shop-survives-replica-kill"].properties()}  # type: ignore[no-untyped-call]
    assert properties["verdict"] == "PASS" and properties["git_commit"] == "f00d"

    root = ET.parse(junit).getroot()  # valid against Jenkins' schema once the GitHub-only attributes go
    for element in root.iter("testcase"):
        element.attrib.pop("file", None)
        element.attrib.pop("line", None)
    xmlschema.XMLSchema(str(SCHEMA)).validate(ET.tostring(root, encoding="unicode"))

    text = markdown.read_text()
    assert text.startswith("## ❌ Resilience gate: FAIL")
    assert summary.read_text() == "earlier step\n" + text + "\n"  # appended, never overwritten
    annotation = f"::error file=experiments/checkout-latency-regression.yaml,line={hypothesis_line},"
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert errors and errors[0].startswith(annotation)

    # the same JUnit suite again, offline, from the run folder alone
    run_dir = Path(properties["result"]).parent
    again = tmp_path / "again.xml"
    rebuilt = subprocess.run(harness_argv("report", str(run_dir), "--format", "junit", "--output", str(again)),
                             capture_output=True, text=True, timeout=60, cwd=checkout, check=False)
    assert rebuilt.returncode == 0, rebuilt.stderr
    [suite] = _suites(again).values()
    gate_cases = [(c.name, c._elem.get("line"), [r.message for r in c.result]) for c in suites[suite.name]]
    assert [(c.name, c._elem.get("line"), [r.message for r in c.result]) for c in suite] == gate_cases

    _check_the_html_report(html, tmp_path, checkout)
    assert wait_no_leftovers(set(), str(tmp_path)) == []


def _check_the_html_report(html: Path, tmp_path: Path, checkout: Path) -> None:
    """Rendered offline in Chromium: every plot drawn, the fault shading where the fault's timestamps
    say; and `harness report` (in the same working folder) rebuilds the same run section from the run
    folder alone."""
    image = screenshot(html, tmp_path / "shots" / "gate.png")
    areas = plot_areas(image)
    assert len(areas) == 10  # per experiment: two SLOs (SLI and burn rate each) and the load
    [run_dir] = [p for p in (tmp_path / "runs").iterdir() if p.name.endswith("checkout-latency-regression")]
    series, fault = read_json(run_dir / "series.json"), read_json(run_dir / "result.json")["faults"][0]
    for area in areas[:5]:  # the first experiment's plots: its latency fault is shaded in each
        band = band_columns(image, area)
        assert band is not None
        expected = (x_of(area, fault["started"], series["start"], series["end"]),
                    x_of(area, fault["ended"], series["start"], series["end"]))
        assert abs(band[0] - expected[0]) <= 3 and abs(band[1] - expected[1]) <= 3, (band, expected)
    assert all(band_columns(image, area) is not None for area in areas[5:9])  # the replica kill, too

    rebuilt = tmp_path / "rebuilt.html"
    done = subprocess.run(harness_argv("report", str(run_dir), "--format", "html", "--output", str(rebuilt)),
                          capture_output=True, text=True, timeout=60, cwd=checkout, check=False)
    assert done.returncode == 0, done.stderr
    assert _run_section(rebuilt.read_text()) == _run_section(html.read_text(), "checkout-latency-regression")


def _run_section(page: str, name: str = "") -> str:
    """The section of one run, without its position in the page."""
    sections: list[str] = re.findall(r'<section class="run" id="run-\d+">(.*?)</section>', page, flags=re.S)
    return next(s for s in sections if name in s.split("</h2>")[0])


LONG_PHASES = {"warmup": "2s", "baseline": "4s", "fault": "20s", "recovery": "5s"}
LONG_LATENCY = {"name": "slow-long", "type": "latency", "at": "1s", "duration": "18s", "delay": "300ms"}


def test_a_cancelled_ci_job_reverts_the_running_fault_and_still_writes_the_reports(tmp_path: Path) -> None:
    folder = tmp_path / "experiments"
    for name in ("gate-halt-first", "gate-halt-second"):
        write_experiment(folder, name, phases=LONG_PHASES, faults=[LONG_LATENCY],
                         slos=[availability_slo(objective=95)])
    junit, output = tmp_path / "junit.xml", tmp_path / "runs"
    with open(tmp_path / "out.txt", "wb") as out, open(tmp_path / "err.txt", "wb") as err:
        proc = subprocess.Popen(harness_argv("gate", str(folder), "--junit", str(junit), "--output", str(output),
                                             "--quiet"), stdout=out, stderr=err, cwd=REPO, start_new_session=True)
    try:
        journal = _wait_for_applied_fault(output, proc)
        os.kill(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = (tmp_path / "err.txt").read_text()
    assert code == 4, stderr[-3000:]  # the interrupted run ended ABORTED; the next never started
    [run_dir] = [p for p in output.iterdir() if p.is_dir()]  # no second run was started
    assert journal.parent == run_dir
    result = read_json(run_dir / "result.json")
    assert result["verdict"] == "ABORTED" and "interrupted by SIGTERM" in result["halted"]
    assert result["faults"][0]["reverted"] is True
    suites = _suites(junit)
    [first_run] = [c for c in suites["gate-halt-first"] if c.name == "run"]
    assert isinstance(first_run.result[0], Error) and "did not finish: interrupted by SIGTERM" in str(
        first_run.result[0].message)
    [not_run] = list(suites["gate-halt-second"])
    assert isinstance(not_run.result[0], Error) and "stopped before it started" in str(not_run.result[0].message)
    assert "gate-halt-second: NOT RUN" in (tmp_path / "out.txt").read_text()
    assert wait_no_leftovers(set(), str(tmp_path)) == []


def _wait_for_applied_fault(output: Path, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for journal in output.glob("*/rollback.jsonl"):
            if '"applied"' in journal.read_text():
                time.sleep(1.0)
                return journal
        if proc.poll() is not None:
            raise AssertionError(f"the gate exited with {proc.returncode} before any fault was applied")
        time.sleep(0.2)
    raise AssertionError("no fault was applied in time")


COMPARE_PHASES = {"warmup": "1s", "baseline": "5s", "fault": "5s", "recovery": "3s"}


def test_a_second_gate_compares_with_the_last_passing_run(tmp_path: Path) -> None:
    folder = tmp_path / "experiments"
    write_experiment(folder, "gate-compare", slos=[availability_slo(objective=95)], phases=COMPARE_PHASES)
    runs, markdown = tmp_path / "runs", tmp_path / "summary.md"
    argv = harness_argv("gate", str(folder), "--compare", "last-pass", "--markdown", str(markdown),
                        "--output", str(runs), "--quiet")
    first = subprocess.run(argv, capture_output=True, text=True, timeout=GATE_TIMEOUT_S, cwd=REPO, check=False)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "no baseline: 0 earlier passing runs of this experiment version (1 needed)" in first.stdout
    [baseline] = [p.name for p in runs.iterdir()]
    second = subprocess.run(argv, capture_output=True, text=True, timeout=GATE_TIMEOUT_S, cwd=REPO, check=False)
    assert f"against the last passing run ({baseline}):" in second.stdout, second.stdout
    baseline_sli = read_json(runs / baseline / "result.json")["slos"][0]["phases"]["fault"]["sli"]
    assert re.search(rf"shop-availability phase fault SLI: [0-9.]+% \(baseline {baseline_sli * 100:.3f}%\)",
                     second.stdout), second.stdout
    text = markdown.read_text()
    assert "| vs baseline |" in text and f"Against the last passing run ({baseline})" in text
    # the runs are equal within noise: a regression here would be a false alarm
    assert second.returncode == 0 and "REGRESSION" not in second.stdout, second.stdout
    assert wait_no_leftovers(set(), str(tmp_path)) == []
