"""The library API runs an experiment to a RunResult without printing, and that result is the file's."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import RunOptions, load_result, run_experiment
from harness.errors import SpecError
from tests.integration.conftest import write_experiment

pytestmark = pytest.mark.integration


def test_run_experiment_returns_the_result_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    experiment = write_experiment(tmp_path, "api-run", phases={"warmup": "1s", "baseline": "5s", "fault": "5s",
                                                               "recovery": "3s"},
                                  slos=[{"name": "shop-availability", "objective": 95, "sli": {"ratio": {
                                      "bad": 'caddy_http_request_duration_seconds_count{code=~"5.."}',
                                      "total": "caddy_http_request_duration_seconds_count"}}}])
    result = run_experiment(experiment, RunOptions(output=tmp_path / "runs"))
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")
    assert result.verdict == "PASS", result.reason
    assert result.exit_code == 0
    assert result.run_dir is not None
    assert load_result(Path(result.run_dir)) == result
    assert result.slo("shop-availability").phases["fault"].total
    assert result.events[0].kind == "phase-started"


def test_bad_input_is_an_exception_and_starts_nothing(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: harness/v1\nkind: Experiment\n")
    with pytest.raises(SpecError, match="metadata"):
        run_experiment(path, RunOptions(output=tmp_path / "runs"))
    assert not (tmp_path / "runs").exists()
