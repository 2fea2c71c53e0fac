"""Generated rules and their generated tests through the real promtool (Debian package prometheus)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.rules import promtool
from harness.rules.files import check, rule_set, write
from harness.spec.loader import load_experiment

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "experiments" / "shop-survives-replica-kill.yaml",
           ROOT / "experiments" / "checkout-latency-regression.yaml",
           ROOT / "tests" / "data" / "imports" / "experiment.yaml"]


@pytest.mark.parametrize("mode", ["production", "experiment"])
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_generated_rules_pass_promtool_check_and_their_tests(source: Path, mode: str, tmp_path: Path) -> None:
    loaded = load_experiment(source, {})
    made = rule_set(str(source), loaded.name, loaded.slos, mode)  # type: ignore[arg-type]
    written = write(made, tmp_path)
    outcomes = check(written)
    assert [o.ok for o in outcomes] == [True, True], "\n".join(o.output for o in outcomes)
    assert "SUCCESS" in outcomes[1].output
    assert written.notes == ()  # imported Sloth and OpenSLO selectors get test series too


def test_the_generated_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    """The tests are not a tautology: a page threshold twice too high makes promtool fail them."""
    loaded = load_experiment(SOURCES[0], {})
    written = write(rule_set("x", loaded.name, loaded.slos, "experiment"), tmp_path)
    text = written.rule_path.read_text()
    broken = re.sub(r"ratio_rate1m\{([^}]*)\} > 0\.144\)", r"ratio_rate1m{\1} > 0.288)", text)
    assert broken != text
    written.rule_path.write_text(broken)
    outcome = promtool.test_rules(written.test_path)
    assert not outcome.ok
    assert "predicted time to detect" in outcome.output


def test_cli_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rules", str(SOURCES[0]), "--windows", "experiment", "--output", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "ok     promtool test rules shop-survives-replica-kill.experiment.rules.test.yaml" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "shop-survives-replica-kill.experiment.rules.test.yaml", "shop-survives-replica-kill.experiment.rules.yaml"]


def test_cli_refuses_an_alert_that_could_never_fire(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "loose.yaml"
    text = SOURCES[0].read_text().replace("objective: 99\n", "objective: 90\n", 1)
    source.write_text(text)
    code = main(["rules", str(source), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{source}: shop-availability: the page condition (burn rate 14.4 over 1h) needs an error ratio" in err
    assert not (tmp_path / "out").exists()


def test_cli_reads_an_slo_file_directly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sloth = ROOT / "tests" / "data" / "imports" / "sloth-getting-started.yml"
    assert main(["rules", str(sloth), "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ok     promtool test rules sloth-getting-started.production.rules.test.yaml" in out
    text = (tmp_path / "sloth-getting-started.production.rules.yaml").read_text()
    assert 'sloth_id: sloth-getting-started-requests-availability' in text
    assert 'http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}' in text
