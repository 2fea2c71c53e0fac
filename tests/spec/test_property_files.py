"""Mutations of the valid example files: `validate` never shows a traceback, and what it accepts `plan` prints."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "experiments").glob("*.yaml"))
ODD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                       st.sampled_from(["", "5", "5s", "-1s", "99.9", "1%", "abc", "${NOT_SET_ANYWHERE}", "{x}",
                                        "code=~\"5..\"", "0ms", "100%"]),
                       st.lists(st.integers(0, 3), max_size=2), st.dictionaries(st.sampled_from(["a", "b"]),
                                                                                 st.integers(0, 3), max_size=2))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def _mutate(doc: Any, data: st.DataObject) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent, key = _parent(doc, path), path[-1]
        action = data.draw(st.sampled_from(["delete", "replace", "duplicate", "rename"]))
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = data.draw(ODD_VALUES)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif action == "rename" and isinstance(parent, dict):
            parent[f"{key}x"] = parent.pop(key)
    return doc


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("mutations")
    shutil.copytree(REPO / "loadprofiles", base / "loadprofiles")
    return base


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_validate_never_crashes_and_plan_prints_what_it_accepts(
        data: st.DataObject, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = data.draw(st.sampled_from(EXAMPLES))
    mutated = _mutate(yaml.safe_load(source.read_text()), data)
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(mutated, sort_keys=False) if mutated is not None else "")
    capsys.readouterr()
    code = main(["validate", str(path)])
    out = capsys.readouterr()
    assert code in (0, 2), out
    assert "Traceback" not in out.out + out.err
    if code == 0 and isinstance(mutated, dict) and mutated.get("kind") == "Experiment":
        assert main(["plan", str(path)]) == 0
        assert "nothing was started or changed" in capsys.readouterr().out
