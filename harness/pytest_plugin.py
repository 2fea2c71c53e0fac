"""The pytest plugin (entry point `pytest11`): experiment files as test items, and a `harness_run` fixture.

`pytest experiments/` collects each experiment file (`kind: Experiment`) as one test item, named by
its `metadata.name`:

- Every experiment file is validated at collection. An invalid one is a collection error listing
  every problem, and, as with `harness gate`, nothing runs until it is fixed.
- The item's setup runs the experiment and its test judges the verdict. PASS passes; FAIL, ABORTED
  and INCONCLUSIVE fail with the verdict table (`--harness-allow-inconclusive` skips INCONCLUSIVE);
  ERROR (the run could produce no evidence) is an error of the test, as a broken fixture is.
- Run folders go under `--harness-output DIR` (default `runs/`; a relative DIR is relative to the
  folder pytest was started in, as for `harness run --output`).
- A run halted by Ctrl-C or SIGTERM (its faults already reverted) fails its item and stops the
  session: no further experiment starts.

Hand-written tests use the `harness_run` fixture: `run = harness_run("experiments/x.yaml")` runs the
file and returns its RunResult to assert on (`run.slo("checkout").phase("fault").sli`). A relative
path is resolved against pytest's rootdir, so a test means the same file wherever pytest is started.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.api import LoadedExperiment, RunOptions, RunResult, build_plan, load_experiment, run_experiment
from harness.errors import HarnessError, SpecError
from harness.reports.checks import interrupted
from harness.reports.console import short_why, summary
from harness.result import RESULT_NAME

SUFFIXES = (".yaml", ".yml")
MAX_SNIFF_BYTES = 1 << 20  # experiment files are small; larger YAML is data, not worth parsing at collection
# An unparseable file that still says it is a harness experiment: collected, so that a syntax error
# fails the session instead of silently dropping the experiment from it.
_DECLARES_EXPERIMENT = (re.compile(r"^kind:\s*[\"']?Experiment[\"']?\s*(#.*)?$", re.MULTILINE),
                        re.compile(r"^apiVersion:\s*[\"']?harness/", re.MULTILINE))

HarnessRun = Callable[[str | Path], RunResult]
"""The type of the `harness_run` fixture, for annotating hand-written tests."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "chaos experiments (harness)")
    group.addoption("--harness-output", metavar="DIR", default="runs",
                    help="where run folders go (default runs/, relative to the folder pytest is started in)")
    group.addoption("--harness-allow-inconclusive", action="store_true", default=False,
                    help="skip an INCONCLUSIVE experiment instead of failing it")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ExperimentFile | None:
    if file_path.suffix in SUFFIXES and is_experiment_file(file_path):
        return ExperimentFile.from_parent(parent, path=file_path)
    return None


def is_experiment_file(path: Path) -> bool:
    """A cheap look at the first document, never raising: `kind: Experiment` with no apiVersion or a
    `harness/` one (other tools have kinds named Experiment too). Validation is the collector's job."""
    try:
        if path.stat().st_size > MAX_SNIFF_BYTES:
            return False
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        first = next((doc for doc in yaml.safe_load_all(text) if doc is not None), None)
    except Exception:  # any YAML a constructor rejects (bad dates, deep nesting) is just not collected
        return all(pattern.search(text) for pattern in _DECLARES_EXPERIMENT)
    if not isinstance(first, dict) or first.get("kind") != "Experiment":
        return False
    api_version = first.get("apiVersion")
    return api_version is None or str(api_version).startswith("harness/")


class ExperimentFile(pytest.File):
    """One experiment file: validated and planned here, before anything runs."""

    def collect(self) -> Iterator[ExperimentItem]:
        try:
            loaded = load_experiment(shown_path(self.path))
            build_plan(loaded)
        except SpecError as err:
            raise self.CollectError("\n".join(err.problems)) from None
        yield ExperimentItem.from_parent(self, name=loaded.name, loaded=loaded)


class ExperimentItem(pytest.Item):
    """One experiment run, judged by its verdict."""

    def __init__(self, *, loaded: LoadedExperiment, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        self.result: RunResult | None = None

    def setup(self) -> None:
        # the run is this test's fixture: --setup-only and --setup-plan promise to run no test
        if self.config.getoption("setuponly"):
            return
        self.result = run_checked(self.loaded, self.session)
        if self.result.verdict in (None, "ERROR"):
            pytest.fail(verdict_table(self.result, self.config), pytrace=False)

    def runtest(self) -> None:
        if self.result is None:
            raise AssertionError("the experiment did not run in setup")
        judge(self.result, self.config)

    def reportinfo(self) -> tuple[Path, int, str]:
        line = self.loaded.line_of(("metadata", "name")) or 1
        return self.path, line - 1, f"experiment {self.name}"  # pytest counts lines from 0


def judge(result: RunResult, config: pytest.Config) -> None:
    """Pass, fail with the verdict table, or skip an allowed INCONCLUSIVE."""
    if result.verdict == "PASS":
        return
    if result.verdict == "INCONCLUSIVE" and config.getoption("harness_allow_inconclusive"):
        reason = f"INCONCLUSIVE (allowed by --harness-allow-inconclusive): {short_why(result.reason)}"
        # reported at the experiment file, as a skip marker is, rather than at this line of the plugin
        raise pytest.skip.Exception(reason, _use_item_location=True)
    pytest.fail(verdict_table(result, config), pytrace=False)


def run_checked(experiment: Path | LoadedExperiment, session: pytest.Session) -> RunResult:
    """Run to a result; an experiment that cannot run fails the test with the harness's message, and an
    interrupted run stops the session."""
    config = session.config
    options = RunOptions(output=config.invocation_params.dir / str(config.getoption("harness_output")))
    try:
        result = run_experiment(experiment, options)
    except HarnessError as err:
        problem = _could_not_run(experiment, err)
    else:
        if interrupted(result):
            session.shouldstop = f"harness: {result.halted} (faults reverted; no further experiment started)"
        return result
    pytest.fail(problem, pytrace=False)  # outside the except: the message alone, not a chain of exceptions


def _could_not_run(experiment: Path | LoadedExperiment, err: HarnessError) -> str:
    if isinstance(err, SpecError):
        return "\n".join(err.problems)  # each already names its file and field
    name = experiment.name if isinstance(experiment, LoadedExperiment) else str(experiment)
    return f"{name}: could not run: {type(err).__name__}: {err}"


def verdict_table(result: RunResult, config: pytest.Config) -> str:
    """The console summary of the run (full reasons with -v), and where its result.json is."""
    out = io.StringIO()
    summary(result, out, colour=False, full_reasons=config.get_verbosity() > 0)
    if result.run_dir is not None:
        out.write(f"  result: {Path(result.run_dir) / RESULT_NAME}\n")
    return out.getvalue().strip("\n")


def shown_path(path: Path) -> Path:
    """Relative to the working folder when inside it: how messages and result.json name the file."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


@pytest.fixture
def harness_run(request: pytest.FixtureRequest) -> HarnessRun:
    """Run an experiment file to its RunResult (a relative path is resolved against the rootdir)."""
    def run(path: str | Path) -> RunResult:
        return run_checked(shown_path(request.config.rootpath / path), request.session)

    return run
