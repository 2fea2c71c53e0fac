"""Every bundled example validates and plans; a new file in experiments/ or loadprofiles/ is covered too."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import validate_file
from harness.plan import build_plan
from harness.reports.plan_text import describe_plan
from harness.spec.loader import load_experiment, load_profile

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "spec"
SUFFIXES = (".yaml", ".yml", ".json")


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES)


EXPERIMENTS = files(ROOT / "experiments")
PROFILES = files(ROOT / "loadprofiles")


def test_the_example_folders_are_not_empty() -> None:
    assert EXPERIMENTS, "experiments/ has no examples"
    assert PROFILES, "loadprofiles/ has no examples"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_bundled_experiment_validates_and_plans(path: Path) -> None:
    loaded = load_experiment(path)
    assert validate_file(path) == f"experiment {loaded.name}"
    text = describe_plan(loaded, build_plan(loaded))
    assert text.startswith(f"experiment {loaded.name} ")
    assert text.endswith("nothing was started or changed")


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.name)
def test_bundled_load_profile_validates(path: Path) -> None:
    loaded = load_profile(path)
    assert validate_file(path) == f"load profile {loaded.profile.metadata.name}"


@pytest.mark.parametrize("path", files(DATA / "good"), ids=lambda p: p.name)
def test_good_test_experiment_validates(path: Path) -> None:
    assert validate_file(path) == f"experiment {path.stem}"


def test_spec_example_with_installed_providers_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROM_TOKEN", "token")
    path = DATA / "spec-example" / "experiment-stdlib.yaml"
    assert validate_file(path) == "experiment checkout-survives-pod-kill"
    assert validate_file(DATA / "loadprofiles" / "steady-peak.yaml") == "load profile steady-peak"
