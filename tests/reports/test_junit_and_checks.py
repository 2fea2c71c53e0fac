"""The checks of a run, and the JUnit XML real consumers read: junitparser, and Jenkins' junit-10.xsd."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from junitparser import Error, Failure, JUnitXml, Skipped, TestSuite

from harness.gate.outcome import gate_outcome
from harness.reports.checks import Entry, run_checks
from harness.reports.github import MAX_ANNOTATIONS, error_annotations
from harness.reports.junit import junit_xml
from harness.reports.markdown import MAX_BYTES, gate_markdown
from tests.reports.results import FILE, checkout_result

SCHEMA = Path(__file__).resolve().parents[2] / ".venv" / "share" / "junit" / "junit-10.xsd"


def _entries() -> list[Entry]:
    return [Entry("checkout", FILE, checkout_result()),
            Entry("search", "experiments/search.yaml", checkout_result("PASS", run_id="r2", verdict="PASS",
                                                                       reason="", experiment="search")),
            Entry("payments", "experiments/payments.yaml", None, "the gate was interrupted before it started")]


def _parsed(text: str, tmp_path: Path) -> JUnitXml:
    path = tmp_path / "junit.xml"
    path.write_text(text)
    return JUnitXml.fromfile(str(path))


def test_every_check_is_listed_with_its_line_and_phase_seconds() -> None:
    checks = {c.name: c for c in run_checks(checkout_result())}
    assert list(checks) == ["avail: phase baseline", "avail: phase fault", "avail: budget consumed",
                            "latency: phase fault", "latency: burn rate", "expect recovers avail",
                            "expect recovers avail (2)", "every fault reverted"]
    assert checks["latency: phase fault"].line == 42 and checks["latency: phase fault"].seconds == 20.0
    assert checks["avail: budget consumed"].line == 41  # the limit's own line
    assert checks["latency: burn rate"].line == 43
    assert checks["expect recovers avail (2)"].line == 48
    assert checks["every fault reverted"].verdict == "PASS" and checks["every fault reverted"].line == 30


def test_a_verdict_no_check_explains_gets_a_run_check() -> None:
    refused = checkout_result("PASS", verdict="INCONCLUSIVE", reason="preflight: no series for x_total", slos=[])
    [*_, run] = run_checks(refused)
    assert (run.name, run.verdict, run.line) == ("run", "INCONCLUSIVE", 4)
    assert "no series for x_total" in run.reason
    interrupted = checkout_result("PASS", verdict="ABORTED", halted="interrupted by SIGTERM")
    [*_, run] = run_checks(interrupted)
    assert run.verdict == "ERROR" and "interrupted by SIGTERM" in run.reason


def test_a_failed_revert_is_an_error_naming_the_fault() -> None:
    result = checkout_result(faults=[{"name": "slow", "type": "latency", "started": 1.0, "reverted": False,
                                      "revert_error": "proxy refused"}])
    check = next(c for c in run_checks(result) if c.name == "every fault reverted")
    assert check.verdict == "ERROR" and "slow: proxy refused" in check.reason and "harness rollback" in check.reason


def test_junit_counts_messages_and_locations_as_junitparser_reads_them(tmp_path: Path) -> None:
    xml = _parsed(junit_xml(_entries(), commit="0123abc"), tmp_path)
    suites = {suite.name: suite for suite in xml if isinstance(suite, TestSuite)}
    assert list(suites) == ["checkout", "search", "payments"]
    checkout = suites["checkout"]
    assert (checkout.tests, checkout.failures, checkout.errors, checkout.skipped) == (8, 1, 0, 0)
    properties = {p.name: p.value for p in checkout.properties()}  # type: ignore[no-untyped-call]
    assert properties["run_id"] == "r1" and properties["verdict"] == "FAIL" and properties["git_commit"] == "0123abc"
    assert properties["result"] == "runs/r1/result.json"
    cases = {case.name: case for case in checkout}
    failed = cases["latency: phase fault"]
    [failure] = failed.result
    assert isinstance(failure, Failure) and failure.type == "FAIL"
    assert failure.message is not None and "1200 bad of 1600 events" in failure.message
    assert failed.classname == "checkout" and failed.time == 20.0
    assert failed._elem.get("file") == FILE and failed._elem.get("line") == "42"
    assert all(case.is_passed for name, case in cases.items() if name != "latency: phase fault")
    assert (suites["search"].failures, suites["search"].errors) == (0, 0)
    [not_run] = list(suites["payments"])
    assert isinstance(not_run.result[0], Error) and "interrupted" in str(not_run.result[0].message)
    pairs = [(case.classname, case.name) for suite in suites.values() for case in suite]
    assert len(pairs) == len(set(pairs))
    assert (xml.tests, xml.failures, xml.errors) == (17, 1, 1)


def test_inconclusive_fails_closed_or_is_skipped_when_allowed(tmp_path: Path) -> None:
    entries = [Entry("checkout", FILE, checkout_result("INCONCLUSIVE"))]
    [case] = [c for c in next(iter(_parsed(junit_xml(entries), tmp_path))) if c.name == "latency: phase fault"]
    assert isinstance(case.result[0], Failure) and case.result[0].type == "INCONCLUSIVE"
    allowed = _parsed(junit_xml(entries, allow_inconclusive=True), tmp_path)
    [case] = [c for c in next(iter(allowed)) if c.name == "latency: phase fault"]
    assert isinstance(case.result[0], Skipped) and "INCONCLUSIVE" in str(case.result[0].message)
    assert gate_outcome(["PASS", "INCONCLUSIVE"]).exit_code == 3
    assert gate_outcome(["PASS", "INCONCLUSIVE"], allow_inconclusive=True).exit_code == 0


@pytest.fixture(scope="module")
def junit_schema() -> xmlschema.XMLSchema:
    assert SCHEMA.is_file(), f"{SCHEMA} is missing: run `bash scripts/test-schemas.sh` (the README's test command does)"
    return xmlschema.XMLSchema(str(SCHEMA))


def test_the_xunit2_flavour_is_valid_against_jenkins_junit_schema(junit_schema: xmlschema.XMLSchema) -> None:
    text = junit_xml(_entries(), flavour="xunit2", allow_inconclusive=True)
    junit_schema.validate(text)
    assert "file=" not in text and f"at {FILE}:42" in text  # the place moves into the failure text


def test_the_default_flavour_differs_from_the_schema_only_by_file_and_line(junit_schema: xmlschema.XMLSchema) -> None:
    text = junit_xml(_entries())
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        junit_schema.validate(text)  # junit-10.xsd has no file/line on testcase: GitHub and GitLab read them
    root = ET.fromstring(text)
    for case in root.iter("testcase"):
        case.attrib.pop("file", None)
        case.attrib.pop("line", None)
    junit_schema.validate(ET.tostring(root, encoding="unicode"))


def test_the_combined_exit_code_follows_the_contract_order() -> None:
    assert gate_outcome(["PASS", "PASS"]).exit_code == 0
    assert gate_outcome(["INCONCLUSIVE", "ERROR", "ABORTED", "FAIL"]).exit_code == 1
    assert gate_outcome(["INCONCLUSIVE", "ERROR", "ABORTED"]).exit_code == 4
    assert gate_outcome(["INCONCLUSIVE", "ERROR"]).exit_code == 5
    assert gate_outcome(["PASS", None]).verdict == "ERROR"  # never started: nothing known, never a pass
    assert gate_outcome([]).exit_code == 5
    assert gate_outcome(["PASS", "FAIL"]).headline == "gate FAIL (exit 1): 1 PASS, 1 FAIL"


def test_markdown_leads_with_the_verdict_and_lists_every_experiment() -> None:
    entries = _entries()
    outcome = gate_outcome([e.verdict for e in entries])
    text = gate_markdown(entries, outcome.headline, outcome.verdict)
    assert text.splitlines()[0] == "## ❌ Resilience gate: FAIL"  # FAIL outranks a run that never started
    assert "| checkout | ❌ FAIL | avail: baseline 100.00% · fault 99.94%<br>latency: fault 25.00%" in text
    assert "| payments | NOT RUN | the gate was interrupted before it started | | |" in text
    assert "<details><summary>checkout: FAIL</summary>" in text
    assert "| latency: phase fault | ❌ FAIL | 1200 bad of 1600 events" in text


def test_markdown_stays_under_githubs_step_summary_limit() -> None:
    long_reason = "x" * 400_000
    entries = [Entry(f"e{i}", FILE, checkout_result(run_id=f"r{i}", reason=long_reason)) for i in range(5)]
    text = gate_markdown(entries, "gate FAIL", "FAIL")
    assert len(text.encode()) <= MAX_BYTES
    assert "cut here" in text and "| e4 | ❌ FAIL |" in text  # the table is always whole


def test_annotations_point_at_the_failing_lines_at_most_ten() -> None:
    [line] = error_annotations([Entry("checkout", FILE, checkout_result())])
    assert line.startswith(f"::error file={FILE},line=42,title=checkout%3A latency%3A phase fault FAIL::1200 bad")
    many = [Entry(f"e{i}", FILE, checkout_result(run_id=f"r{i}")) for i in range(15)]
    assert len(error_annotations(many)) == MAX_ANNOTATIONS
