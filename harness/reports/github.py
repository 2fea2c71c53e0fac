"""GitHub Actions workflow commands: error annotations on the experiment file's failing lines."""

from __future__ import annotations

from collections.abc import Sequence

from harness.reports.checks import Entry

MAX_ANNOTATIONS = 10  # GitHub shows at most 10 error annotations per step
_RANK = {"FAIL": 0, "ABORTED": 1, "ERROR": 2, "INCONCLUSIVE": 3}


def error_annotations(entries: Sequence[Entry]) -> list[str]:
    """`::error file=…,line=…::` lines for the checks that failed, the most important first."""
    found: list[tuple[int, str]] = []
    for entry in entries:
        for check in entry.checks():
            if check.verdict == "PASS":
                continue
            where = f"file={_property(entry.file)}" + (f",line={check.line}" if check.line is not None else "")
            title = _property(f"{entry.name}: {check.name} {check.verdict}")
            found.append((_RANK.get(check.verdict, 9), f"::error {where},title={title}::{_data(check.reason)}"))
    found.sort(key=lambda item: item[0])
    return [line for _, line in found[:MAX_ANNOTATIONS]]


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
