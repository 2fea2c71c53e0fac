"""Running promtool (from the Debian package `prometheus`) on rule files and their unit tests."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

PROMTOOL = "promtool"
_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class PromtoolOutcome:
    ok: bool
    command: str
    output: str


def _promtool() -> str:
    found = shutil.which(PROMTOOL)
    if found is None:
        raise HarnessError("promtool not found: install the Debian package prometheus (bash scripts/setup.sh)")
    return found


def _run(argv: list[str], cwd: Path) -> PromtoolOutcome:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as err:
        raise HarnessError(f"{' '.join(argv)} did not finish within {_TIMEOUT_S:g}s") from err
    return PromtoolOutcome(done.returncode == 0, " ".join(["promtool", *argv[1:]]),
                           (done.stdout + done.stderr).strip())


def check_rules(path: Path) -> PromtoolOutcome:
    return _run([_promtool(), "check", "rules", path.name], path.parent)


def test_rules(path: Path) -> PromtoolOutcome:
    return _run([_promtool(), "test", "rules", path.name], path.parent)
