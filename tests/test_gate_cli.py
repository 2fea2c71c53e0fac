"""`harness gate` and `harness report` refusing bad input before anything starts, and reports from a run folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

from harness.gate import run as gate_run
from harness.gate.outcome import gate_outcome
from harness.reports.checks import Entry
from harness.result import write_run_result
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
    ("--junit", "{file}/j.xml", "cannot be written ({file} is not a folder)"),
    ("--markdown", "{folder}", "is a folder: give a file name, e.g. {folder}/summary.md"),
    ("--html", "/proc/report.html", "--html /proc/report.html: cannot be written ("),  # refused even to root
])
def test_an_unwritable_report_path_is_refused_first(capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str,
                                                   value: str, message: str) -> None:
    folder = _folder(tmp_path, EXPERIMENTS / "shop-survives-replica-kill.yaml")
    file = tmp_path / "a-file"
    file.write_text("x")
    code, _, err = run_cli(capsys, "gate", str(folder), flag, value.format(file=file, folder=folder),
                           "--output", str(tmp_path / "runs"))
    assert code == 2
    assert message.format(file=file, folder=folder) in err
    assert not (tmp_path / "runs").exists() and not list(tmp_path.glob("**/.harness-probe-*"))


def test_a_folder_without_experiments_and_duplicate_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "profiles-only"
    shutil.copytree(ROOT / "loadprofiles", empty)
    code, _, err = run_cli(capsys, "gate", str(empty))
    assert code == 2 and "no experiment (kind: Experiment) to run" in err
    folder = _folder(tmp_path, EXPERIMENTS / "shop-survives-replica-kill.yaml")
    (folder / "copy.yaml").write_text((folder / "shop-survives-replica-kill.yaml").read_text())
    code, _, err = run_cli(capsys, "gate", str(folder), "--output", str(tmp_path / "runs"))
    assert code == 2 and "metadata.name 'shop-survives-replica-kill' is also the name of" in err


def test_a_corrupt_or_foreign_history_and_an_unknown_baseline_stop_the_gate_before_it_starts(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    history = tmp_path / "history"
    (history / "broken").mkdir(parents=True)
    (history / "broken" / "result.json").write_text("{not json")
    (history / "foreign").mkdir()
    (history / "foreign" / "result.json").write_text('{"kind": "GameDay", "apiVersion": "harness/v1"}')
    runs = tmp_path / "runs"
    code, _, err = run_cli(capsys, "gate", str(EXPERIMENTS), "--compare", "last-pass", "--history", str(history),
                           "--output", str(runs))
    assert code == 2 and not runs.exists()
    assert f"--history {history}: {history / 'broken' / 'result.json'}: not a readable result file" in err
    assert "not a run result of this harness (kind 'GameDay'" in err
    write_run_result(checkout_result(run_id="r1"), history / "r1")
    (history / "broken").joinpath("result.json").unlink()
    (history / "foreign").joinpath("result.json").unlink()
    code, _, err = run_cli(capsys, "gate", str(EXPERIMENTS), "--baseline", "nope", "--history", str(history),
                           "--output", str(runs))
    assert code == 2 and "--baseline nope: no finished run with this id" in err and not runs.exists()
    code, _, err = run_cli(capsys, "gate", str(EXPERIMENTS), "--baseline", "r1", "--history", str(history),
                           "--output", str(runs))
    assert code == 2 and "--baseline r1: a run of 'checkout', which is not among the experiments" in err


@pytest.mark.parametrize(("flags", "message"), [
    (["--compare", "0"], "must be at least 1"),
    (["--compare", "lastpass"], "give last-pass or a number of runs"),
    (["--regression-tolerance", "lots"], "give a relative tolerance like 20% or 0.2"),
    (["--regression", "maybe"], "invalid choice: 'maybe'"),
])
def test_bad_comparison_options_are_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  flags: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        run_cli(capsys, "gate", str(EXPERIMENTS), *flags, "--output", str(tmp_path / "runs"))
    assert stopped.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_compare_and_baseline_together_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "gate", str(EXPERIMENTS), "--compare", "3", "--baseline", "r1")
    assert code == 2 and "give one of them" in err


def test_history_lists_the_runs_of_an_experiment_newest_first(capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    for run_id, started in (("r1", 100.0), ("r2", 200.0)):
        write_run_result(checkout_result(run_id=run_id, started=started), tmp_path / run_id)
    write_run_result(checkout_result(run_id="other", experiment="other"), tmp_path / "other")
    code, out, _ = run_cli(capsys, "history", "checkout", "--history", str(tmp_path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"2 run(s) of checkout in {tmp_path}, newest first"
    assert lines[1].startswith("r2  FAIL  avail: baseline 100.00% fault 99.94%; budget 0.0100%; peak burn 0.06")
    assert lines[2].startswith("r1  FAIL")
    code, out, _ = run_cli(capsys, "history", "nothing-ran", "--history", str(tmp_path))
    assert code == 0 and out == f"no finished runs of nothing-ran in {tmp_path} (it has runs of: checkout, other)\n"
    code, _, err = run_cli(capsys, "history", "missing.yaml", "--history", str(tmp_path))
    assert code == 2 and "missing.yaml" in err


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
    with pytest.raises(SystemExit) as stopped:
        run_cli(capsys, "report", str(corrupt), "--format", "pdf")
    assert stopped.value.code == 2 and "invalid choice: 'pdf'" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    code, _, err = run_cli(capsys, "report", str(corrupt), "--output", str(tmp_path / "file" / "report.html"))
    assert code == 2 and "--output" in err and "is not a folder" in err
    code, _, err = run_cli(capsys, "report", str(corrupt), "--output", "/proc/report.md")
    assert code == 2 and "--output /proc/report.md: cannot be written" in err


def test_an_html_report_without_series_says_so_and_keeps_every_number(capsys: pytest.CaptureFixture[str],
                                                                       tmp_path: Path) -> None:
    code, out, _ = run_cli(capsys, "report", str(_run_folder(tmp_path)), "--format", "html")
    assert code == 0 and out.startswith("<!DOCTYPE html>")
    assert "No plots: " in out and "series.json: no series were captured for this run" in out
    assert "1200 bad of 1600 events" in out


def test_a_report_that_cannot_be_written_at_the_end_is_said_and_the_others_are_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = gate_run._write

    def full_disk(path: Path, text: str) -> Path:
        if path.suffix == ".html":
            raise OSError(28, "No space left on device")
        return real_write(path, text)

    monkeypatch.setattr(gate_run, "_write", full_disk)
    outputs = gate_run.GateOutputs(junit=tmp_path / "j.xml", markdown=tmp_path / "s.md", html=tmp_path / "r.html")
    entries = [Entry("checkout", "experiments/checkout.yaml", checkout_result())]
    failed: list[str] = []
    written = gate_run.write_outputs(entries, gate_outcome(["FAIL"]), gate_run.GateOptions(outputs=outputs, environ={}),
                                     failed)
    assert written == [tmp_path / "j.xml", tmp_path / "s.md"]
    assert failed == [f"--html {tmp_path / 'r.html'}: could not be written: No space left on device"]
