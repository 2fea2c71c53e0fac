"""A fault type added as one module: `file-flag`, defined only here, registered, validated, run and undone.

The type raises a flag file for the fault's duration (a stand-in for a feature flag or a config
switch); it is undone by re-reading the experiment, like the built-in command faults.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest

from harness.api import FaultType, RunOptions, load_experiment, register, run_experiment
from harness.errors import SpecError
from harness.faults import types
from harness.faults.base import FaultCheck, FaultContext, Prepared
from harness.faults.recipes import experiment_fault
from harness.faults.undo import apply_undo
from harness.spec.faults import FaultBase
from harness.spec.types import PositiveDuration


class FileFlag(FaultBase):
    type: Literal["file-flag"]
    platforms: ClassVar[frozenset[str]] = frozenset({"local"})
    path: str
    duration: PositiveDuration

    def environment_problems(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        if not Path(self.path).parent.is_dir():
            yield ("path",), f"folder {Path(self.path).parent} does not exist: create it first"


def prepare_file_flag(fault: FileFlag, ctx: FaultContext) -> Prepared:
    flag = Path(fault.path)

    def raise_flag() -> dict[str, Any]:
        flag.write_text(fault.name)
        return {"flag": str(flag)}

    def check(_: Any) -> FaultCheck:
        return FaultCheck(flag.exists(), f"flag {flag} {'raised' if flag.exists() else 'missing'}")

    return Prepared(targets=(str(flag),), undo=experiment_fault(ctx.experiment_path, ctx.fault_index, fault.name),
                    apply=raise_flag, verify=check)


def lower_flag(fault: FileFlag, _cwd: Path) -> str:
    Path(fault.path).unlink(missing_ok=True)
    return f"flag {fault.path} lowered"


FILE_FLAG = FaultType("file-flag", FileFlag, prepare_file_flag, stop=lower_flag)


@pytest.fixture
def file_flag() -> Iterator[FaultType]:
    register(FILE_FLAG)
    yield FILE_FLAG
    types.unregister("file-flag")


def experiment(folder: Path, fault: str, platform: str = "target: {platform: local}",
               phases: str = "{warmup: 5s, baseline: 30s, fault: 20s, recovery: 30s}") -> Path:
    (folder / "profile.yaml").write_text(textwrap.dedent("""\
        apiVersion: harness/v1
        kind: LoadProfile
        metadata: {name: steady}
        requests: [{name: catalog, method: GET, path: /api/catalog}]
        stages: [{duration: 5s, users: 20, spawn_rate: 20}]
        wait: {throughput: 2}
        """))
    path = folder / "flag.yaml"
    path.write_text(textwrap.dedent(f"""\
        apiVersion: harness/v1
        kind: Experiment
        metadata: {{name: flag}}
        PLATFORM
        slos:
          - name: availability
            objective: 95
            sli: {{ratio: {{bad: 'caddy_http_request_duration_seconds_count{{code=~"5.."}}',
                           total: caddy_http_request_duration_seconds_count}}}}
        load: {{profile: profile.yaml}}
        phases: {phases}
        faults:
          - {fault}
        hypothesis: [{{slo: availability}}]
        """).replace("PLATFORM", platform))
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_experiment(path)
    return caught.value.problems


def test_a_registered_type_is_read_into_its_model(tmp_path: Path, file_flag: FaultType) -> None:
    loaded = load_experiment(experiment(tmp_path, f"{{name: flag-on, type: file-flag, at: 2s, duration: 5s, "
                                                  f"path: {tmp_path / 'flag'}}}"))
    fault = loaded.experiment.faults[0]
    assert isinstance(fault, FileFlag)
    assert (fault.path, fault.duration, fault.length) == (str(tmp_path / "flag"), 5.0, 5.0)


@pytest.mark.parametrize(("fault", "message"), [
    pytest.param("{name: f, type: file-flag, duration: 5s}", "faults[0].path: required field is missing",
                 id="missing-field"),
    pytest.param("{name: f, type: file-flag, duration: 5s, path: /x/y, colour: red}",
                 "faults[0].colour: unknown field", id="unknown-field"),
    pytest.param("{name: f, type: file-flag, duration: 5s, path: /no/such/folder/flag}",
                 "faults[0].path: folder /no/such/folder does not exist: create it first", id="environment-check"),
    pytest.param("{name: f, type: file-flg, duration: 5s, path: /x}", "must be one of: pod-kill", id="type-typo"),
])
def test_its_validation_names_the_file_line_and_field(tmp_path: Path, file_flag: FaultType, fault: str,
                                                     message: str) -> None:
    found = problems_of(experiment(tmp_path, fault))
    assert any(message in problem and f"{tmp_path / 'flag.yaml'}:" in problem for problem in found), found
    if "must be one of" in message:
        assert any("file-flag" in problem for problem in found), found


def test_its_platforms_are_checked(tmp_path: Path, file_flag: FaultType) -> None:
    found = problems_of(experiment(tmp_path, f"{{name: f, type: file-flag, duration: 5s, path: {tmp_path}/f}}",
                                   platform="target: {platform: external}\nprometheus: {url: 'http://127.0.0.1:9'}"))
    assert any("'file-flag' faults need another platform; 'external' has:" in problem for problem in found), found


def test_unregistered_it_is_an_unknown_type_again(tmp_path: Path) -> None:
    register(FILE_FLAG)
    types.unregister("file-flag")
    found = problems_of(experiment(tmp_path, f"{{name: f, type: file-flag, duration: 5s, path: {tmp_path}/f}}"))
    assert any("faults[0].type: 'type' must be one of" in problem and "file-flag" not in problem.split(", got")[0]
               for problem in found), found


def test_a_name_is_registered_once(file_flag: FaultType) -> None:
    register(FILE_FLAG)  # the same declaration again: nothing changes
    with pytest.raises(ValueError, match="already defined"):
        register(FaultType("file-flag", FileFlag, prepare_file_flag))
    with pytest.raises(ValueError, match="already defined"):
        register(FaultType("latency", FileFlag, prepare_file_flag))


def test_harness_rollback_replays_its_stop_from_the_experiment(tmp_path: Path, file_flag: FaultType) -> None:
    flag = tmp_path / "flag"
    path = experiment(tmp_path, f"{{name: flag-on, type: file-flag, duration: 5s, path: {flag}}}")
    flag.write_text("left raised by a run that was killed")
    assert apply_undo(experiment_fault(path, 0, "flag-on")) == f"flag {flag} lowered"
    assert not flag.exists()


def test_plugins_come_from_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    class Entry:
        name, value = "file-flag", "tests.faults.test_fault_type_plugin:FILE_FLAG"

        def load(self) -> FaultType:
            return FILE_FLAG

    asked: list[str] = []

    def entry_points(group: str) -> list[Entry]:
        asked.append(group)
        return [Entry()]

    monkeypatch.setattr(types, "entry_points", entry_points)
    monkeypatch.setattr(types, "_plugins_loaded", False)
    try:
        types.load_plugins()
        types.load_plugins()  # once per process
        assert asked == ["harness.fault_types"]
        assert types.registered("file-flag") == FILE_FLAG
    finally:
        types.unregister("file-flag")


def test_a_broken_plugin_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class Entry:
        name, value = "broken", "nowhere:THING"

        def load(self) -> FaultType:
            raise ImportError("No module named 'nowhere'")

    monkeypatch.setattr(types, "entry_points", lambda group: [Entry()])
    monkeypatch.setattr(types, "_plugins_loaded", False)
    with pytest.raises(SpecError, match="fault type plugin 'broken' \\(nowhere:THING\\) cannot be loaded"):
        types.load_plugins()


@pytest.mark.integration
def test_it_runs_end_to_end_and_is_reverted(tmp_path: Path, file_flag: FaultType) -> None:
    flag = tmp_path / "flag"
    path = experiment(tmp_path, f"{{name: flag-on, type: file-flag, at: 1s, duration: 3s, path: {flag}}}",
                      phases="{warmup: 1s, baseline: 5s, fault: 5s, recovery: 3s}")
    result = run_experiment(path, RunOptions(output=tmp_path / "runs"))
    fault = result.fault("flag-on")
    assert (fault.type, fault.targets, fault.reverted, fault.took_effect) == ("file-flag", (str(flag),), True, True)
    assert fault.observed == f"flag {flag} raised"
    assert fault.ended is not None and fault.started is not None
    assert fault.ended - fault.started == pytest.approx(3.0, abs=0.5)
    assert not flag.exists()
    assert result.verdict == "PASS", result.reason
