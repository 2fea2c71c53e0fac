"""JUnit XML for CI test reports: one testsuite per experiment, one testcase per check.

Two flavours. The default puts `file` and `line` on each testcase, which GitHub and GitLab test
reporters read to point at the check in the experiment file. `xunit2` leaves them out, for
consumers that validate against Jenkins' JUnit schema (junit-10.xsd), and names the place in the
failure text instead. INCONCLUSIVE is a `<failure type="INCONCLUSIVE">`, or `<skipped>` when allowed.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from harness.reports.checks import Check, Entry

Flavour = Literal["default", "xunit2"]
FLAVOURS: tuple[Flavour, ...] = ("default", "xunit2")
_MESSAGE_CHARS = 1000  # reporters show the message inline; the whole reason is in the element's text


def junit_xml(entries: Sequence[Entry], *, allow_inconclusive: bool = False, flavour: Flavour = "default",
              commit: str | None = None, name: str = "harness gate") -> str:
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
    for entry in entries:
        suite = _suite(entry, allow_inconclusive, flavour, commit)
        root.append(suite)
        for key in ("tests", "failures", "errors", "skipped"):
            totals[key] += int(suite.get(key, "0"))
        totals["time"] += float(suite.get("time", "0"))
    for key in ("tests", "failures", "errors"):
        root.set(key, str(int(totals[key])))
    root.set("time", _seconds(totals["time"]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(entry: Entry, allow_inconclusive: bool, flavour: Flavour, commit: str | None) -> ET.Element:
    result = entry.result
    checks = entry.checks()
    started = result.started if result is not None and result.started is not None else None
    ended = result.ended if result is not None and result.ended is not None else started
    suite = ET.Element("testsuite", name=entry.name, tests=str(len(checks)))
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    properties = ET.SubElement(suite, "properties")
    for key, value in _properties(entry, commit):
        ET.SubElement(properties, "property", name=key, value=value)
    for check in checks:
        case, outcome = _case(entry, check, allow_inconclusive, flavour)
        suite.append(case)
        if outcome:
            counts[outcome] += 1
    for outcome_key, count in counts.items():
        suite.set(outcome_key, str(count))
    suite.set("time", _seconds((ended - started) if started is not None and ended is not None else 0.0))
    if started is not None:
        suite.set("timestamp", datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    suite.set("hostname", socket.gethostname())
    return suite


def _properties(entry: Entry, commit: str | None) -> list[tuple[str, str]]:
    result = entry.result
    found = [("experiment_file", entry.file)]
    if result is not None:
        found += [("run_id", result.run_id), ("verdict", str(result.verdict)),
                  ("result", f"{result.run_dir}/result.json" if result.run_dir else "")]
        if result.source is not None and result.source.fingerprint:
            found.append(("fingerprint", result.source.fingerprint))
    else:
        found.append(("verdict", "NOT RUN"))
    if commit:
        found.append(("git_commit", commit))
    return found


def _case(entry: Entry, check: Check, allow_inconclusive: bool, flavour: Flavour) -> tuple[ET.Element, str]:
    case = ET.Element("testcase", classname=entry.name, name=check.name, time=_seconds(check.seconds))
    where = f"{entry.file}:{check.line}" if check.line is not None else entry.file
    if flavour == "default":
        case.set("file", entry.file)
        if check.line is not None:
            case.set("line", str(check.line))
    text = f"{check.verdict}: {check.reason}" + (f"\nat {where}" if flavour == "xunit2" else "")
    message = _short(f"{check.verdict}: {check.reason}")
    if check.verdict == "PASS":
        return case, ""
    if check.verdict == "INCONCLUSIVE" and allow_inconclusive:
        ET.SubElement(case, "skipped", message=message).text = text
        return case, "skipped"
    if check.verdict == "ERROR":
        ET.SubElement(case, "error", message=message, type="ERROR").text = text
        return case, "errors"
    ET.SubElement(case, "failure", message=message, type=check.verdict).text = text
    return case, "failures"


def _short(text: str) -> str:
    return text if len(text) <= _MESSAGE_CHARS else text[:_MESSAGE_CHARS - 1] + "…"


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"
