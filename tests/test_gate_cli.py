"""`harness gate` and `harness report` refusing bad input before anything starts, and reports from a run folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

from tests.reports.results import checkout_result
from tests.test_cli_offline import ROOT, run_cli

EXPERIMENTS = ROOT / "experiments"
BAD = ROOT / "tests" / "data" / "spec" / "bad" / "duration-without-unit.yaml"


def _folder(tmp_path: Path, *files: Path) -> Path:
    folder = tmp_path / "gate"
    folder.mkdir()
    for file in files:
        shutil.copy(file, folder / file.name)
    shutil.copytree(ROOT / "loadprofiles", tmp_path / "loadprofiles")
    return folder


def test_one_invalid_file_and_nothing_starts(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = _folder(tmp_path, EXPERIMENTS / "shop-survives-replica-kill.yaml", BAD)
    code, out, err = run_cli(capsys, "gate", str(folder), "--junit", "out/j.xml", "--output", "runs", "--quiet")
    assert (code, out) == (2, "")
    assert f"{folder / BAD.name}:16 phases.fault: expected a duration with a unit" in err
    assert "invalid input: 1 problem(s); nothing was started" in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--junit", "{file}/j.xml", "cannot create it in {file} (not a writable folder)"),
    ("--markdown", "{folder}", "is a folder: give a file name"),
])
def test_an_unwritable_report_path_is_refused_first(capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str,
                                                   value: str, message: str) -> None:
    folder = _folder(tmp_path, EXPERIMENTS / "shop-survives-replica-kill.yaml")
    file = tmp_path / "a-file"
    file.write_text("x")
    code, _, err = run_cli(capsys, "gate", str(folder), flag, value.format(file=file, folder=folder),
                           "--output", str(tmp_path / "runs"))
    assert code == 2
    assert message.format(file=file) in err
    assert not (tmp_path / "runs").exists()


def test_a_folder_without_experiments_and_duplicate_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "profiles-only"
    shutil.copytree(ROOT / "loadprofiles", empty)
    code, _, err = run_cli(capsys, "gate", str(empty))
    assert code == 2 and "no experiment (kind: Experiment) to run" in err
    folder = _folder(tmp_path, EXPERIMENTS / "shop-survives-replica-kill.yaml")
    (folder / "copy.yaml").write_text((folder / "shop-survives-replica-kill.yaml").read_text())
    code, _, err = run_cli(capsys, "gate", str(folder), "--output", str(tmp_path / "runs"))
    assert code == 2 and "metadata.name 'shop-survives-replica-kill' is also the name of" in err


def test_options_not_built_yet_are_refused_plainly(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "gate", str(EXPERIMENTS), "--html", str(tmp_path / "r.html"),
                           "--compare", "last-pass", "--output", str(tmp_path / "runs"))
    assert code == 2
    assert "--html (the HTML report), --compare (history comparison) is not built yet" in err
    assert not (tmp_path / "runs").exists()


def test_an_existing_stop_file_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    stop.touch()
    code, _, err = run_cli(capsys, "gate", str(EXPERIMENTS), "--stop-file", str(stop), "--output",
                           str(tmp_path / "runs"))
    assert code == 2 and f"--stop-file {stop} already exists" in err


def _run_folder(tmp_path: Path) -> Path:
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "result.json").write_text(json.dumps(checkout_result().document()))
    return run_dir


def test_report_rebuilds_markdown_and_junit_from_the_run_folder(capsys: pytest.CaptureFixture[str],
                                                                tmp_path: Path) -> None:
    run_dir = _run_folder(tmp_path)
    code, out, _ = run_cli(capsys, "report", str(run_dir))
    assert code == 0 and out.startswith("## ❌ checkout: FAIL")
    assert "| latency: phase fault | ❌ FAIL | 1200 bad of 1600 events" in out
    target = tmp_path / "out" / "junit.xml"
    code, _, err = run_cli(capsys, "report", str(run_dir), "--format", "junit", "--output", str(target))
    assert code == 0 and f"wrote {target}" in err
    [suite] = list(JUnitXml.fromfile(str(target)))
    failed = [case for case in suite if case.result]
    assert [case.name for case in failed] == ["latency: phase fault"]
    assert isinstance(failed[0].result[0], Failure)


def test_report_refuses_what_it_cannot_read(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "report", str(tmp_path / "nowhere"))
    assert code == 2 and "no such result file" in err
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "result.json").write_text("{not json")
    code, _, err = run_cli(capsys, "report", str(corrupt))
    assert code == 2 and "not a readable result file" in err
    code, _, err = run_cli(capsys, "report", str(_run_folder(tmp_path)), "--format", "html")
    assert code == 2 and "the HTML report is not built yet" in err
