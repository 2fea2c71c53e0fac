"""The command line without starting anything: validate, plan, refusals of bad input, exit codes."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import __version__, cli

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "spec"
SUFFIXES = (".yaml", ".yml", ".json")


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """The CLI configures logging for the whole process; put it back after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"harness {__version__}\n"


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["destroy-everything"])
    assert stopped.value.code == 2
    assert "invalid choice: 'destroy-everything'" in capsys.readouterr().err


def test_validate_the_bundled_folders(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(p for folder in ("experiments", "loadprofiles") for p in (ROOT / folder).rglob("*")
                   if p.suffix in SUFFIXES)
    code, out, err = run_cli(capsys, "validate", str(ROOT / "experiments"), str(ROOT / "loadprofiles"))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [line.split()[1].rstrip(":") for line in lines[:-1]] == [str(p) for p in files]
    assert all(line.startswith("ok   ") for line in lines[:-1])
    assert lines[-1] == f"{len(files)} file(s) valid"


def test_validate_tells_file_kinds_apart(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROM_TOKEN", "token")
    experiment = DATA / "spec-example" / "experiment-stdlib.yaml"
    profile = DATA / "loadprofiles" / "steady-peak.yaml"
    slos = DATA / "slos" / "checkout.openslo.yaml"
    code, out, err = run_cli(capsys, "validate", str(experiment), str(profile), str(slos))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"ok   {experiment}: experiment checkout-survives-pod-kill",
        f"ok   {profile}: load profile steady-peak",
        f"ok   {slos}: SLO file (checkout-errors)",
        "3 file(s) valid",
    ]


def test_validate_the_spec_example_folder(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROM_TOKEN", "token")
    folder = DATA / "spec-example"
    code, out, err = run_cli(capsys, "validate", str(folder))
    assert (code, err) == (0, "")
    assert out.splitlines() == [*(f"ok   {folder / name}: experiment checkout-survives-pod-kill"
                                  for name in ("experiment-stdlib.yaml", "experiment.yaml")), "2 file(s) valid"]


def test_missing_variable_is_named_and_secrets_are_not_shown(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shutil.copytree(DATA / "loadprofiles", tmp_path / "loadprofiles")
    text = (DATA / "good" / "minimal.yaml").read_text().replace(
        "load:\n", "prometheus: {url: '${PROM_URL}', headers: {X-Token: '${PROM_TOKEN}'}}\nload:\n")
    path = tmp_path / "secret.yaml"
    path.write_text(text)
    monkeypatch.delenv("PROM_TOKEN", raising=False)
    monkeypatch.setenv("PROM_URL", "ftp://admin:hunter2@prometheus")
    code, out, err = run_cli(capsys, "validate", str(path))
    assert code == 2
    assert err.splitlines() == [
        f"{path}:13 prometheus.headers.X-Token: environment variable PROM_TOKEN is not set "
        "(export PROM_TOKEN=... before running)",
        f"{path}:13 prometheus.url: expected an http:// or https:// URL, got '${{PROM_URL}}'",
        "2 problem(s) in 1 file(s)",
    ]
    assert "hunter2" not in out + err


def test_plan_of_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, out, err = run_cli(capsys, "plan", str(missing))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"{missing}: file not found", "invalid input: 1 problem(s); nothing was started"]


def test_run_of_an_invalid_file_starts_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = DATA / "bad" / "duration-without-unit.yaml"
    code, out, err = run_cli(capsys, "run", str(bad), "--output", str(tmp_path / "runs"), "--quiet")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"{bad}:16 phases.fault: expected a duration with a unit, got 60: add a unit: 60s, 60m or 60ms",
        "invalid input: 1 problem(s); nothing was started",
    ]
    assert list(tmp_path.iterdir()) == []


def test_rollback_of_a_folder_that_is_not_a_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, "rollback", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == (f"{tmp_path}: no rollback.jsonl here or in its run folders: not a run or game day folder, or no "
                   "fault was ever injected\n")


def test_run_refuses_a_stop_file_that_already_exists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stop = tmp_path / "stop"
    stop.touch()
    code = cli.main(["run", "experiments/shop-survives-replica-kill.yaml", "--output", str(tmp_path / "runs"),
                 "--stop-file", str(stop)])
    assert code == 2
    assert f"--stop-file {stop} already exists: remove it first" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_run_of_several_files_says_to_run_them_one_at_a_time(capsys: pytest.CaptureFixture[str]) -> None:
    from harness import cli

    assert cli.main(["run", "a.yaml", "b.yaml"]) == 2
    assert "harness run takes one experiment" in capsys.readouterr().err


def test_why_line_is_capped_at_a_clause_boundary() -> None:
    from harness.reports.console import clip, short_why

    why = short_why("; ".join(f"slo-{i}: phase fault: 1200 bad of 1600 events" for i in range(40)))
    assert len(why) < 260 and why.endswith("… (full reason in result.json, or run with -v)")
    assert clip("word " * 40).endswith("word…")
