"""The scheduled game day workflow (.github/workflows/gameday.yml): linted with actionlint (the
WebAssembly build tests/test_workflows.py explains), and what actionlint cannot know about it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from harness.spec.gameday import load_gameday
from tests.test_workflows import ACTIONLINT, ROOT, require_actionlint

WORKFLOW = ROOT / ".github" / "workflows" / "gameday.yml"


def _workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return loaded


def _steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = _workflow()["jobs"]["gameday"]["steps"]
    return steps


def _lint(path: Path) -> subprocess.CompletedProcess[str]:
    require_actionlint()
    return subprocess.run([str(ACTIONLINT), str(path)], capture_output=True, text=True, timeout=120, check=False)


def test_actionlint_finds_no_problem_and_reports_a_broken_copy(tmp_path: Path) -> None:
    clean = _lint(WORKFLOW)
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "")
    broken = tmp_path / "gameday.yml"
    broken.write_text(WORKFLOW.read_text().replace("${{ steps.gameday.outputs.code }}",
                                                   "${{ steps.gamedy.outputs.code }}"))
    found = _lint(broken)
    assert found.returncode == 1 and 'property "gamedy" is not defined' in found.stdout


def test_cron_dispatch_and_no_overlap() -> None:
    workflow = _workflow()
    triggers = workflow[True]  # YAML reads the key `on` as True
    assert triggers["schedule"][0]["cron"] and "workflow_dispatch" in triggers
    assert workflow["concurrency"] == {"group": "gameday", "cancel-in-progress": False}
    assert "cron is in UTC and may start" in WORKFLOW.read_text()


def test_it_runs_the_bundled_game_day_after_the_readme_setup_and_uploads_always() -> None:
    steps = _steps()
    names = [step.get("name", step.get("uses", "")) for step in steps]
    setup, run = names.index("Set up (the README's setup command)"), names.index("Run the game day")
    assert steps[setup]["run"] == "bash scripts/setup.sh" and setup < run
    assert ".venv/bin/harness gameday \"$GAMEDAY_FILE\" --output runs" in steps[run]["run"]
    default = steps[run]["env"]["GAMEDAY_FILE"]
    assert "gamedays/demo.yaml" in default and load_gameday(ROOT / "gamedays" / "demo.yaml").name == "demo"
    upload = next(step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and "runs/" in upload["with"]["path"]
    assert steps[-1]["env"]["GAMEDAY_CODE"] == "${{ steps.gameday.outputs.code }}"
    assert all(step.get("if") == "always()" for step in steps[run + 1:-1])
