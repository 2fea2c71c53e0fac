"""`alerting`, `remediation` and `expect: remediated` in experiments: refused at validation with the
file and field, before anything starts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli.main import main
from harness.errors import SpecError
from harness.spec.gameday import load_gameday
from harness.spec.loader import load_experiment

DEMO = Path(__file__).resolve().parents[2] / "remediation"


def _copy(tmp_path: Path, change: dict[str, Any]) -> Path:
    shutil.copytree(DEMO / "runbooks", tmp_path / "runbooks")
    folder = tmp_path / "experiments"
    folder.mkdir()
    doc = yaml.safe_load((DEMO / "experiments" / "shop-outage-remediated.yaml").read_text())
    doc.update(change)
    path = folder / "x.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_experiment(path, {})
    return caught.value.problems


def test_the_demo_pair_is_valid() -> None:
    for name in ("shop-outage-remediated", "shop-outage-broken-runbook"):
        loaded = load_experiment(DEMO / "experiments" / f"{name}.yaml", {})
        assert [r.runbook.metadata.name for r in loaded.runbooks.values()] == [
            "restart-shop" if name == "shop-outage-remediated" else "restart-shop-broken"]


def test_on_alert_naming_an_alert_no_rule_defines(tmp_path: Path) -> None:
    typo = {"on_alert": "shop-availabilty-page", "runbook": "../runbooks/restart-shop.yaml"}
    path = _copy(tmp_path, {"remediation": [typo]})
    problems = _problems(path)
    assert any(p.startswith(f"{path}:") and "remediation[0].on_alert: no rule defines an alert "
               "'shop-availabilty-page' (alerts: shop-availability-no-data, shop-availability-page, "
               "shop-availability-ticket)" in p for p in problems), problems


def test_remediated_naming_an_slo_without_remediation(tmp_path: Path) -> None:
    path = _copy(tmp_path, {"remediation": []})
    problems = _problems(path)
    assert any("expect[1].remediated: SLO 'shop-availability' has no remediation" in p for p in problems), problems


def test_alerting_for_an_unknown_slo(tmp_path: Path) -> None:
    path = _copy(tmp_path, {"alerting": {"slos": ["shop-latency"]}})
    problems = _problems(path)
    assert any("alerting.slos[0]: no SLO named 'shop-latency'" in p for p in problems), problems


def test_a_broken_runbook_is_reported_under_its_remediation(tmp_path: Path) -> None:
    path = _copy(tmp_path, {})
    runbook = tmp_path / "runbooks" / "restart-shop.yaml"
    runbook.write_text(runbook.read_text().replace("within: 30s", "every: 1s"))
    problems = _problems(path)
    assert any("remediation[0].runbook: runbook ../runbooks/restart-shop.yaml:" in p for p in problems), problems
    assert any("steps[1].wait_for.within: required field is missing" in p for p in problems), problems


def test_a_missing_runbook_file(tmp_path: Path) -> None:
    path = _copy(tmp_path, {"remediation": [{"on_alert": "shop-availability-page", "runbook": "nope.yaml"}]})
    assert any("no such runbook file" in p for p in _problems(path))


def test_validate_exits_2_and_starts_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _copy(tmp_path, {"remediation": []})
    assert main(["validate", str(path)]) == 2
    assert "has no remediation" in capsys.readouterr().err


def test_the_platform_offers_its_variables_to_runbooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SUPERVISOR_URL comes from the local platform at run time: no environment variable is needed."""
    monkeypatch.delenv("SUPERVISOR_URL", raising=False)
    loaded = load_experiment(_copy(tmp_path, {}))
    assert loaded.experiment.target.local_or_default.auto_restart is False


def test_the_demo_game_days_name_bundled_files() -> None:
    pair = load_gameday(DEMO.parent / "gamedays" / "remediation.yaml")
    assert [pair.designed(i) for i in range(2)] == ["PASS", "FAIL"]
    assert all(experiment.experiment.remediation for experiment in pair.experiments)
    demo = load_gameday(DEMO.parent / "gamedays" / "demo.yaml")
    assert [demo.designed(i) for i in range(3)] == ["PASS", "FAIL", "PASS"]
    assert demo.experiments[2].name == "shop-outage-remediated"


def test_plan_shows_the_alerting_and_the_runbook(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(DEMO / "experiments" / "shop-outage-remediated.yaml")]) == 0
    out = capsys.readouterr().out
    assert "alerting: burn-rate rules (experiment windows) for shop-availability" in out
    assert ("remediation: when shop-availability-page fires, run ../runbooks/restart-shop.yaml: restart missing "
            "replicas (http), wait until healthy (wait_for)") in out


def test_the_users_alertmanager_is_for_platform_external(tmp_path: Path) -> None:
    path = _copy(tmp_path, {"alerting": {"windows": "experiment", "alertmanager": {"url": "http://127.0.0.1:9093"}}})
    assert any("alerting.alertmanager: the local platform runs its own Alertmanager" in p for p in _problems(path))
