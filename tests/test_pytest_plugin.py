"""The pytest plugin: which files become experiment items, how a verdict becomes a test outcome, the
`harness_run` fixture, and (integration) real runs through pytest.

This suite keeps its own data files (broken experiments on purpose) out of collection in
tests/conftest.py; the pytester runs below have a rootdir of their own, where the entry point loads
the plugin as it would in any project. `-p harness` (the entry point's name) is given anyway, so the
tests do not depend on plugin autoloading being enabled.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness import pytest_plugin
from harness.api import LoadedExperiment, RunOptions
from harness.errors import HarnessError, SpecError, UnsupportedError
from harness.judge.verdict import EXIT_CODES, Verdict
from harness.result import RunResult
from harness.result.model import PhaseResult, SloResult
from tests.integration.conftest import (
    availability_slo,
    latency_slo,
    matching_processes,
    wait_no_leftovers,
    write_experiment,
)

pytest_plugins = ["pytester"]

PLUGIN = ("-p", "harness")
EXPERIMENT = """\
apiVersion: harness/v1
kind: Experiment
metadata: {name: x}
"""


# -- which files are experiments ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "collected"),
    [
        pytest.param(EXPERIMENT, True, id="experiment"),
        pytest.param("kind: Experiment\nmetadata: {name: x}\n", True, id="no_api_version"),
        pytest.param("---\n---\n" + EXPERIMENT, True, id="after_empty_documents"),
        pytest.param(EXPERIMENT + "---\nkind: LoadProfile\n", True, id="first_of_several_documents"),
        pytest.param("apiVersion: harness/v1\nkind: Experiment\nmetadata: [\n", True,
                     id="broken_yaml_that_declares_an_experiment"),
        pytest.param("apiVersion: kubeflow.org/v1beta1\nkind: Experiment\n", False, id="another_tools_experiment"),
        pytest.param("apiVersion: harness/v1\nkind: LoadProfile\n", False, id="load_profile"),
        pytest.param("kind: LoadProfile\n---\n" + EXPERIMENT, False, id="experiment_not_first"),
        pytest.param("kind: Experiment\nmetadata: [\n", False, id="broken_yaml_without_harness_api_version"),
        pytest.param("created: 2001-13-45\n", False, id="value_a_constructor_rejects"),
        pytest.param("- kind: Experiment\n", False, id="list_document"),
        pytest.param("kind\n", False, id="scalar_document"),
        pytest.param("", False, id="empty"),
    ],
)
def test_only_harness_experiment_files_are_collected(tmp_path: Path, text: str, collected: bool) -> None:
    path = tmp_path / "file.yaml"
    path.write_text(text)
    assert pytest_plugin.is_experiment_file(path) is collected


def test_large_and_undecodable_files_are_not_read_as_experiments(tmp_path: Path) -> None:
    large = tmp_path / "large.yaml"
    large.write_text(EXPERIMENT + "# " + "x" * pytest_plugin.MAX_SNIFF_BYTES + "\n")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(EXPERIMENT.encode() + b"\xff\xfe\n")
    assert not pytest_plugin.is_experiment_file(large)
    assert not pytest_plugin.is_experiment_file(binary)
    assert not pytest_plugin.is_experiment_file(tmp_path / "missing.yaml")


# -- collection through pytest ------------------------------------------------------------------------


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with an ini at its root (the rootdir) and one valid experiment, `shop-kill`."""
    pytester.makeini("[pytest]\n")
    write_experiment(pytester.path / "experiments", "shop-kill")
    return pytester


def test_each_experiment_file_is_one_item_named_by_its_metadata(project: pytest.Pytester) -> None:
    folder = project.path / "experiments"
    write_experiment(folder, "checkout-slow").rename(folder / "checkout-slow.yml")
    (folder / "broken.yaml").write_text("key: [unclosed\n")
    (folder / "notes.txt").write_text(EXPERIMENT)
    (folder / "katib.yaml").write_text("apiVersion: kubeflow.org/v1beta1\nkind: Experiment\n")
    result = project.runpytest_inprocess(*PLUGIN, "--collect-only", "-q", "experiments")
    result.stdout.fnmatch_lines(["experiments/checkout-slow.yml::checkout-slow",
                                 "experiments/shop-kill.yaml::shop-kill", "", "2 tests collected*"])
    assert result.ret == pytest.ExitCode.OK
    assert "profile.yaml" not in result.stdout.str()  # the load profile write_experiment wrote beside them


def test_an_invalid_experiment_is_a_collection_error_naming_the_file_and_field(project: pytest.Pytester) -> None:
    write_experiment(project.path / "experiments", "bad",
                     phases={"warmup": "2s", "baseline": "6s", "fault": "fast", "recovery": "5s"})
    fake = FakeRun.returning("PASS")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pytest_plugin, "run_experiment", fake)
        result = project.runpytest_inprocess(*PLUGIN, "experiments")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting experiments/bad.yaml*",
                                 "experiments/bad.yaml:* phases.fault: expected a duration like 200ms*",
                                 "*Interrupted: 1 error during collection*"])
    assert "Traceback" not in result.stdout.str()
    assert fake.calls == []  # as with `harness gate`: nothing runs while a file is invalid


def test_an_experiment_file_that_is_not_valid_yaml_is_a_collection_error(project: pytest.Pytester) -> None:
    (project.path / "experiments" / "typo.yaml").write_text(
        "apiVersion: harness/v1\nkind: Experiment\nmetadata:\n  name: typo\n slos: []\n")
    result = project.runpytest_inprocess(*PLUGIN, "experiments")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting experiments/typo.yaml*",
                                 "experiments/typo.yaml:*: not valid YAML*"])


# -- verdicts as test outcomes (the run is a fake) ----------------------------------------------------


def result_of(verdict: Verdict, run_dir: Path, reason: str = "", halted: str | None = None) -> RunResult:
    """A run of `shop-kill` whose fault phase got `verdict`: 960 good of 1000 at a 99 % objective."""
    passed = verdict == "PASS"
    fault = PhaseResult(good=999 if passed else 960, bad=1 if passed else 40, total=1000,
                        sli=0.999 if passed else 0.96, verdict=verdict,
                        reason="" if passed else "40 bad of 1000 events: above the budget 1.000 %")
    slo = SloResult(name="shop-availability", objective=99, verdict=verdict, phases={
        "baseline": PhaseResult(good=1000, bad=0, total=1000, sli=1.0, verdict="PASS"), "fault": fault})
    return RunResult(experiment="shop-kill", run_id="20250101T000000Z-shop-kill", run_dir=str(run_dir),
                     verdict=verdict, exit_code=EXIT_CODES[verdict], reason=reason, halted=halted, slos=(slo,))


@dataclass
class FakeRun:
    """Stands in for `harness.api.run_experiment`: records each call, answers with canned results."""

    answers: list[RunResult | HarnessError]
    calls: list[tuple[str, RunOptions]] = field(default_factory=list)

    @classmethod
    def returning(cls, verdict: Verdict, reason: str = "", halted: str | None = None) -> FakeRun:
        return cls([result_of(verdict, Path("runs/20250101T000000Z-shop-kill"), reason, halted)])

    def __call__(self, experiment: Path | LoadedExperiment, options: RunOptions | None = None) -> RunResult:
        where = experiment.name if isinstance(experiment, LoadedExperiment) else str(Path(experiment).resolve())
        self.calls.append((where, options or RunOptions()))
        answer = self.answers[min(len(self.calls), len(self.answers)) - 1]
        if isinstance(answer, HarnessError):
            raise answer
        return answer


def run_with(project: pytest.Pytester, fake: FakeRun, *args: str) -> pytest.RunResult:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pytest_plugin, "run_experiment", fake)
        return project.runpytest_inprocess(*PLUGIN, *args)


@pytest.mark.parametrize(
    ("verdict", "args", "outcome"),
    [
        pytest.param("PASS", (), {"passed": 1}, id="pass_passes"),
        pytest.param("FAIL", (), {"failed": 1}, id="fail_fails"),
        pytest.param("ABORTED", (), {"failed": 1}, id="aborted_fails"),
        pytest.param("INCONCLUSIVE", (), {"failed": 1}, id="inconclusive_fails_closed"),
        pytest.param("INCONCLUSIVE", ("--harness-allow-inconclusive",), {"skipped": 1}, id="inconclusive_allowed"),
        pytest.param("FAIL", ("--harness-allow-inconclusive",), {"failed": 1}, id="allowing_inconclusive_not_fail"),
        pytest.param("ERROR", (), {"errors": 1}, id="error_is_a_test_error"),
    ],
)
def test_the_verdict_decides_the_outcome(project: pytest.Pytester, verdict: Verdict, args: tuple[str, ...],
                                         outcome: dict[str, int]) -> None:
    result = run_with(project, FakeRun.returning(verdict, reason=f"the run's reason for {verdict}"),
                      *args, "experiments")
    result.assert_outcomes(**outcome)
    text = result.stdout.str()
    assert "Traceback" not in text
    assert "pytest_plugin.py" not in text
    if verdict != "PASS" and "skipped" not in outcome:
        result.stdout.fnmatch_lines([f"shop-kill: {verdict} (exit {EXIT_CODES[verdict]})",
                                     f"  why: the run's reason for {verdict}"])


def test_a_failure_reads_as_the_verdict_table(project: pytest.Pytester) -> None:
    result = run_with(project, FakeRun.returning("FAIL", reason="shop-availability: phase fault: 40 bad"),
                      "experiments")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*_ experiment shop-kill _*",
        "shop-kill: FAIL (exit 1)",
        "  why: shop-availability: phase fault: 40 bad",
        "  SLO  *phase  *good/total  SLI  *objective  burn  verdict  reason",
        "  shop-availability  baseline  1000/1000  *100.000%  99%  *PASS",
        "  shop-availability  fault  *960/1000  *96.000%  *99%  *FAIL  *40 bad of 1000 events: above the budget*",
        "  shop-availability: FAIL; budget consumed*",
        "  result: runs/20250101T000000Z-shop-kill/result.json",
        "FAILED experiments/shop-kill.yaml::shop-kill - Failed: shop-kill: FAIL (exit 1)",
    ])


def test_an_allowed_inconclusive_says_why_it_was_skipped(project: pytest.Pytester) -> None:
    fake = FakeRun.returning("INCONCLUSIVE", reason="preflight: no samples of caddy_http_requests_total")
    result = run_with(project, fake, "-rs", "--harness-allow-inconclusive", "experiments")
    result.assert_outcomes(skipped=1)
    # at the line of metadata.name, not a line of the plugin
    result.stdout.fnmatch_lines(["SKIPPED [1] experiments/shop-kill.yaml:4: INCONCLUSIVE (allowed by "
                                 "--harness-allow-inconclusive): preflight: no samples of caddy_http_requests_total"])


def test_an_experiment_that_cannot_run_is_an_error_with_the_harness_message(project: pytest.Pytester) -> None:
    message = "platform 'kubernetes' is not supported yet"
    result = run_with(project, FakeRun([UnsupportedError(message)]), "experiments")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"shop-kill: could not run: UnsupportedError: {message}"])
    assert "Traceback" not in result.stdout.str()


def test_run_folders_go_under_harness_output(project: pytest.Pytester) -> None:
    default, chosen = FakeRun.returning("PASS"), FakeRun.returning("PASS")
    run_with(project, default, "experiments").assert_outcomes(passed=1)
    run_with(project, chosen, "--harness-output", "out/runs", "experiments").assert_outcomes(passed=1)
    assert [(name, options.output) for name, options in default.calls] == [("shop-kill", project.path / "runs")]
    assert [options.output for _, options in chosen.calls] == [project.path / "out" / "runs"]


def test_an_interrupted_run_fails_and_starts_no_further_experiment(project: pytest.Pytester) -> None:
    write_experiment(project.path / "experiments", "z-second")
    fake = FakeRun.returning("ABORTED", reason="halted: interrupted by SIGTERM", halted="interrupted by SIGTERM")
    result = run_with(project, fake, "experiments")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*harness: interrupted by SIGTERM (faults reverted; no further experiment started)*"])
    assert [name for name, _ in fake.calls] == ["shop-kill"]


def test_the_options_are_in_the_harness_help_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess(*PLUGIN, "--help")
    result.stdout.fnmatch_lines(["chaos experiments (harness):", "  --harness-output=DIR*",
                                 "  --harness-allow-inconclusive*"])


# -- the harness_run fixture (the run is a fake) ------------------------------------------------------

HAND_WRITTEN = """
from harness.pytest_plugin import HarnessRun


def test_the_fault_phase_keeps_availability(harness_run: HarnessRun) -> None:
    run = harness_run("experiments/shop-kill.yaml")
    assert run.slo("shop-availability").phase("fault").sli > {threshold}
"""


@pytest.mark.parametrize(("threshold", "outcome"), [pytest.param(0.99, "passed", id="numbers_hold"),
                                                    pytest.param(0.9995, "failed", id="numbers_fall_short")])
def test_harness_run_returns_the_result_for_a_test_to_assert_on(project: pytest.Pytester, threshold: float,
                                                                 outcome: str) -> None:
    (project.path / "tests").mkdir()
    (project.path / "tests" / "test_shop.py").write_text(HAND_WRITTEN.format(threshold=threshold))
    fake = FakeRun.returning("PASS")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project.path / "tests")  # the path is the rootdir's, wherever pytest starts
        patch.setattr(pytest_plugin, "run_experiment", fake)
        result = project.runpytest_inprocess(*PLUGIN, "test_shop.py")
    result.assert_outcomes(**{outcome: 1})
    assert [name for name, _ in fake.calls] == [str((project.path / "experiments" / "shop-kill.yaml").resolve())]


def test_harness_run_of_an_invalid_file_fails_with_its_problems(project: pytest.Pytester) -> None:
    project.makepyfile(test_shop=HAND_WRITTEN.format(threshold=0.99))
    problem = "experiments/shop-kill.yaml:3 metadata.name: required field is missing"
    result = run_with(project, FakeRun([SpecError([problem])]), "test_shop.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([problem])
    assert "Traceback" not in result.stdout.str()
    assert "During handling" not in result.stdout.str()


# -- real runs through pytest -------------------------------------------------------------------------

QUICK_PHASES = {"warmup": "1s", "baseline": "5s", "fault": "6s", "recovery": "3s"}
REAL_RUN_TIMEOUT_S = 300.0


@pytest.fixture
def no_leftovers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fail when a real run through pytest leaves a process behind (and clean it up)."""
    before = {proc.pid for proc in matching_processes()}
    yield
    remaining = wait_no_leftovers(before, str(tmp_path_factory.getbasetemp()))
    for proc in remaining:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    assert not remaining, "processes left behind:\n" + "\n".join(map(str, remaining))


def passing_experiment(folder: Path) -> Path:
    return write_experiment(folder, "pytest-steady", phases=dict(QUICK_PHASES), slos=[availability_slo(objective=95)])


@pytest.mark.integration
@pytest.mark.usefixtures("no_leftovers")
def test_real_experiments_pass_and_fail_through_pytest(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "experiments"
    passing_experiment(folder)
    write_experiment(folder, "pytest-slow", phases=dict(QUICK_PHASES), slos=[latency_slo()],
                     faults=[{"name": "slow", "type": "latency", "at": "1s", "duration": "4s", "delay": "300ms"}],
                     hypothesis=[{"slo": "shop-latency"}])
    result = pytester.runpytest_subprocess(*PLUGIN, "--harness-output", "out", "-v", "experiments",
                                           timeout=REAL_RUN_TIMEOUT_S)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "experiments/pytest-slow.yaml::pytest-slow FAILED*",
        "experiments/pytest-steady.yaml::pytest-steady PASSED*",
        "*_ experiment pytest-slow _*",
        "pytest-slow: FAIL (exit 1)",
        "  why: shop-latency: phase fault: *",
        "  SLO  *phase  *good/total  *SLI  *objective  *burn  *verdict  *reason",
        "  shop-latency  baseline  *PASS",
        "  shop-latency  fault  *95%  *FAIL  *",
        "  fault slow (latency) on shop-0, shop-1, shop-2: reverted; *",
        f"  result: {pytester.path}/out/*-pytest-slow/result.json",
    ])
    assert sorted(p.name.split("-", 1)[1] for p in (pytester.path / "out").iterdir()) == ["pytest-slow",
                                                                                          "pytest-steady"]


@pytest.mark.integration
@pytest.mark.usefixtures("no_leftovers")
def test_a_hand_written_test_asserts_on_a_real_run(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    passing_experiment(pytester.path / "experiments")
    pytester.makepyfile(test_steady="""
        from harness.pytest_plugin import HarnessRun


        def test_steady_load_keeps_the_shop_available(harness_run: HarnessRun) -> None:
            run = harness_run("experiments/pytest-steady.yaml")
            assert run.verdict == "PASS", run.reason
            fault = run.slo("shop-availability").phase("fault")
            assert fault.total is not None and fault.total > 100
            assert fault.sli is not None and fault.sli > 0.95
    """)
    result = pytester.runpytest_subprocess(*PLUGIN, "test_steady.py", timeout=REAL_RUN_TIMEOUT_S)
    result.assert_outcomes(passed=1)
    assert [p.name.split("-", 1)[1] for p in (pytester.path / "runs").iterdir()] == ["pytest-steady"]
