"""Malformed files: every problem is reported at once, with its file, line and field path, and exit code 2.

Each file of tests/data/spec/bad/ and bad-profiles/ holds one kind of mistake (its first line says which);
the tables below give the exact messages. `{file}` is the file itself, `{data}` is tests/data/spec.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import cli
from harness.errors import SpecError
from harness.spec.loader import load_experiment, load_profile

DATA = Path(__file__).resolve().parents[1] / "data" / "spec"
BAD = DATA / "bad"
BAD_PROFILES = DATA / "bad-profiles"

EXPERIMENTS: dict[str, list[str]] = {
    "unknown-top-level-key": [
        "{file}:6 owner: unknown field (check the spelling: unknown fields are errors)"
    ],
    "unknown-nested-key": [
        "{file}:17 phases.faults: unknown field (check the spelling: unknown fields are errors)"
    ],
    "fault-type-typo": [
        "{file}:17 faults[0].type: 'type' must be one of: pod-kill, latency, http-error, blackhole, "
        "process-pause, cpu-stress, chaostoolkit, http, process, got 'pod-kil'"
    ],
    "missing-required": [
        "{file}:5 metadata.name: required field is missing",
        "{file}:7 slos[0].sli: required field is missing",
        "{file}:2 load: required field is missing",
    ],
    "bad-name": [
        "{file}:5 metadata.name: use lowercase letters, digits and '-' (not at either end), "
        "got 'Checkout_Test'"
    ],
    "wrong-api-version": ["{file}:2 apiVersion: expected 'harness/v1', got 'harness/v2'"],
    "wrong-kind": ["{file}:3 kind: expected 'Experiment', got 'Experimnt'"],
    "platform-block-mismatch": [
        "{file}:7 target: has a 'local' block but platform is 'external': remove one"
    ],
    "good-and-bad": ["{file}:11 slos[0].sli.ratio: give exactly one of 'good' or 'bad' beside 'total'"],
    "latency-bucket-suffix": [
        "{file}:11 slos[0].sli.latency.histogram: name the histogram family without '_bucket': "
        "'http_request_duration_seconds'"
    ],
    "duration-without-unit": [
        "{file}:16 phases.fault: expected a duration with a unit, got 60: add a unit: 60s, 60m or 60ms"
    ],
    "fault-after-phase": [
        "{file}:20 faults[0].at: runs from 50s to 70s of the fault phase, which lasts 1m: move it earlier, "
        "shorten it or lengthen phases.fault"
    ],
    "duplicate-slo-names": [
        "{file}:7 slos: SLO name 'availability' is defined 2 times (inline or imported): names must be unique"
    ],
    "duplicate-fault-names": [
        "{file}:16 faults[0].name: fault name 'kill' is used more than once",
        "{file}:18 faults[1].name: fault name 'kill' is used more than once",
    ],
    "duplicate-hypothesis": [
        "{file}:16 hypothesis[0].slo: SLO 'availability' appears twice in the hypothesis: merge them",
        "{file}:17 hypothesis[1].slo: SLO 'availability' appears twice in the hypothesis: merge them",
    ],
    "hypothesis-unknown-slo": [
        "{file}:16 hypothesis[0].slo: no SLO named 'availabilty' (known SLOs: availability)"
    ],
    "unknown-slo-references": [
        "{file}:19 abort.slo: no SLO named 'latency' (known SLOs: availability)",
        "{file}:21 expect[0].recovers: no SLO named 'latency' (known SLOs: availability)",
    ],
    "judged-phase-zero": ["{file}:18 hypothesis[0].phases: phase 'recovery' is 0s long and cannot be judged"],
    "client-sli-misuse": [
        "{file}:19 hypothesis[0].min_budget_remaining: the local platform's Prometheus starts empty, so there is "
        "no budget history to gate on: use it with platform external (your Prometheus)",
        "{file}:19 hypothesis[0].min_budget_remaining: SLO 'checkout-client' is a client SLI, counted from this "
        "run's own requests: it has no budget history to gate on; gate on a Prometheus SLI of the same service "
        "instead",
        "{file}:21 expect[0].recovers: SLO 'checkout-client' is a client SLI: recovery times are measured from "
        "Prometheus series; expect the recovery of a ratio or latency SLI instead",
        "{file}:11 slos[0].sli.client.requests: SLO 'checkout-client': the load profile has no request named "
        "'chekout' (its requests: catalog, checkout)",
    ],
    "guard-too-long": [
        "{file}:17 evidence.guard: a guard of 20s on each side leaves nothing of the 30s baseline phase to "
        "judge: use less than 15s"
    ],
    "external-without-prometheus": [
        "{file}:2 prometheus: platform 'external' needs 'prometheus.url' (only 'local' runs its own)"
    ],
    "pod-kill-on-external": [
        "{file}:21 faults[0].type: 'pod-kill' faults need another platform; 'external' has: chaostoolkit, "
        "http, process"
    ],
    "replicas-ready-too-many": [
        "{file}:21 expect[0].replicas_ready: expects 3 ready replicas but the target has 2"
    ],
    "alert-without-rules": [
        "{file}:18 expect[0].alert: the local Prometheus has no alerting rules: add an `alerting` block to "
        "generate them, or name your rules file in target.local.alert_rules"
    ],
    "missing-rules-file": [
        "{file}:8 target.local.alert_rules[0]: rules file {data}/bad/rules/no-such-rules.yaml not found"
    ],
    "unknown-expectation": [
        "{file}:18 expect[0]: expected one of 'recovers', 'alert', 'replicas_ready' or 'remediated' with 'within'"
    ],
    "invalid-yaml": ["{file}:9: not valid YAML: expected <block end>, but found '<block mapping start>'"],
    "empty": ["{file}:1: expected a mapping of fields at the top level"],
    "top-level-list": ["{file}:1: expected a mapping of fields at the top level"],
    "missing-profile": [
        "{file}:14 load.profile: no load profile 'no-such-profile' (looked for a file of that name in "
        "loadprofiles/ beside and above the experiment, or give a path)"
    ],
    "bad-profile": ["{data}/bad-profiles/wait-min-above-max.yaml:10 wait: 'min' is longer than 'max'"],
    "missing-import": [
        "{file}:7 slos[0].import: cannot import ../slos/no-such.openslo.yaml:",
        "  {data}/slos/no-such.openslo.yaml: file not found",
    ],
    "objective-fraction": ["{file}:8 slos[0].objective: objectives are percents: did you mean 99.9?"],
    "objective-100": [
        "{file}:8 slos[0].objective: an objective of 100% leaves no error budget: use e.g. 99.9"
    ],
    "missing-env-var": [
        "{file}:10 prometheus.headers.Authorization: environment variable HARNESS_TEST_UNSET_TOKEN is not "
        "set (export HARNESS_TEST_UNSET_TOKEN=... before running)"
    ],
    "count-and-percent": ["{file}:16 faults[0]: give either 'count' or 'percent', not both"],
    "pod-kill-bad-amounts": [
        "{file}:16 faults[0].count: expected a percentage like 2% or 99.5, got 'many%'",
        "{file}:17 faults[1].count: expected a percentage between 0% and 100%, got '150%'",
        "{file}:18 faults[2].count: must kill at least 1 replica",
        "{file}:19 faults[3].count: expected a number of replicas like 1 or a percentage like 34%, got 'two'",
    ],
    "chaostoolkit-missing-module": [
        "{file}:19 faults[0].action: not a valid Chaos Toolkit activity: could not find Python module "
        "'no_such_chaos_module.actions' in activity 'drain-node'"
    ],
    "chaostoolkit-bad-arguments": [
        "{file}:19 faults[0].action: not a valid Chaos Toolkit activity: required argument 'path' is missing "
        "from activity 'exists'"
    ],
    "chaostoolkit-rollback-without-duration": [
        "{file}:16 faults[0]: a fault with a rollback persists: give it a 'duration' (when the rollback runs)"
    ],
    "bad-urls-and-selectors": [
        "{file}:9 prometheus.url: expected an http:// or https:// URL, got 'prometheus.example.com:9090'",
        "{file}:16 slos[0].sli.latency.selector: expected a label selector in braces like "
        "'{{route=\"/api\"}}', got 'route=\"/api/checkout\"'",
    ],
    "several-errors": [
        "{file}:21 faults[1].delay: expected a duration like 200ms, 30s or 5m, got 'fast'",
        "{file}:25 faults[2].rate: expected a percentage between 0% and 100%, got '150%'",
        "{file}:29 hypothesis[0].phases[1]: expected 'warmup', 'baseline', 'fault' or 'recovery', "
        "got 'faults'",
    ],
}

PROFILES: dict[str, list[str]] = {
    "both-requests-and-locustfile": [
        "{file}:2: give exactly one of 'requests' (a list) or 'locustfile' (your own Locust file)"
    ],
    "wait-min-above-max": ["{file}:10 wait: 'min' is longer than 'max'"],
    "no-stages": ["{file}:2: give 'stages' (at least one) or 'arrival: {{rate: ...}}'"],
    "wrong-kind": ["{file}:3 kind: expected kind LoadProfile, got 'Experiment'"],
    "locustfile-missing": [
        "{file}:6 locustfile: {data}/bad-profiles/no_such_user.py does not exist "
        "(paths are relative to this file)"
    ],
    "several-errors": [
        "{file}:7 requests[0].path: expected a path starting with '/', got 'api/catalog'",
        "{file}:7 requests[0].weight: Input should be greater than or equal to 1",
        "{file}:8 requests[1].method: expected 'GET', 'POST', 'PUT', 'PATCH', 'DELETE' or 'HEAD', got 'PUSH'",
        "{file}:10 stages[0].duration: expected a duration with a unit, got 20: add a unit: 20s, 20m or 20ms",
        "{file}:11 wait: give either 'min'/'max' (think time) or 'throughput' (requests/s per user), "
        "not both",
    ],
}

# `harness validate` tells files apart by their kind first: a misspelt kind is an unknown kind there, and a
# profile that says `kind: Experiment` is checked as an experiment.
CLI_EXPERIMENTS = {
    **EXPERIMENTS,
    "wrong-kind": [
        "{file}:3 kind: unknown kind 'Experimnt': expected Experiment, LoadProfile, GameDay or Runbook "
        "(or an OpenSLO / Sloth SLO file)"
    ],
    "empty": ["{file}: the file is empty"],
}
CLI_PROFILES = {
    **PROFILES,
    "wrong-kind": [
        "{file}:2 slos: required field is missing",
        "{file}:2 load: required field is missing",
        "{file}:2 hypothesis: required field is missing",
        "{file}:7 requests: unknown field (check the spelling: unknown fields are errors)",
        "{file}:9 stages: unknown field (check the spelling: unknown fields are errors)",
    ],
}


def expected(table: dict[str, list[str]], folder: Path, name: str) -> list[str]:
    path = folder / f"{name}.yaml"
    return [line.format(file=path, data=DATA) for line in table[name]]


@pytest.fixture(autouse=True)
def _keep_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI configures logging for the whole process; put it back after each test."""
    monkeypatch.delenv("HARNESS_TEST_UNSET_TOKEN", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    harness_level = logging.getLogger("harness").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("harness").setLevel(harness_level)


def test_every_bad_file_has_its_expected_messages() -> None:
    assert sorted(EXPERIMENTS) == sorted(p.stem for p in BAD.glob("*.yaml"))
    assert sorted(PROFILES) == sorted(p.stem for p in BAD_PROFILES.glob("*.yaml"))
    assert len(EXPERIMENTS) + len(PROFILES) >= 25


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_bad_experiment(name: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_experiment(BAD / f"{name}.yaml", {})
    assert caught.value.problems == expected(EXPERIMENTS, BAD, name)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_bad_load_profile(name: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_profile(BAD_PROFILES / f"{name}.yaml", {})
    assert caught.value.problems == expected(PROFILES, BAD_PROFILES, name)


def test_spec_error_message_lists_every_problem() -> None:
    with pytest.raises(SpecError) as caught:
        load_experiment(BAD / "several-errors.yaml", {})
    assert str(caught.value) == "\n".join(expected(EXPERIMENTS, BAD, "several-errors"))


@pytest.mark.parametrize(
    ("folder", "table", "name"),
    [pytest.param(BAD, CLI_EXPERIMENTS, name, id=f"experiment-{name}") for name in sorted(EXPERIMENTS)]
    + [pytest.param(BAD_PROFILES, CLI_PROFILES, name, id=f"profile-{name}") for name in sorted(PROFILES)],
)
def test_validate_command_prints_every_problem_and_exits_2(
    capsys: pytest.CaptureFixture[str], folder: Path, table: dict[str, list[str]], name: str
) -> None:
    code = cli.main(["validate", str(folder / f"{name}.yaml")])
    out, err = capsys.readouterr()
    problems = expected(table, folder, name)
    assert code == 2
    assert err.splitlines() == [*problems, f"{len(problems)} problem(s) in 1 file(s)"]
    assert out == ""
    assert "Traceback" not in out + err


def test_validate_a_folder_reports_every_file(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["validate", str(BAD_PROFILES), str(BAD)])
    out, err = capsys.readouterr()
    problems = [line for name in sorted(PROFILES) for line in expected(CLI_PROFILES, BAD_PROFILES, name)]
    problems += [line for name in sorted(EXPERIMENTS) for line in expected(CLI_EXPERIMENTS, BAD, name)]
    files = len(PROFILES) + len(EXPERIMENTS)
    assert code == 2
    assert err.splitlines() == [*problems, f"{len(problems)} problem(s) in {files} file(s)"]
    assert out == ""
    assert "Traceback" not in err


def test_validate_mixed_good_and_bad_files(capsys: pytest.CaptureFixture[str]) -> None:
    good = DATA / "good" / "minimal.yaml"
    bad = BAD / "duration-without-unit.yaml"
    code = cli.main(["validate", str(good), str(bad)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == f"ok   {good}: experiment minimal\n"
    problems = expected(EXPERIMENTS, BAD, "duration-without-unit")
    assert err.splitlines() == [*problems, "1 problem(s) in 2 file(s)"]


def test_validate_a_path_that_does_not_exist(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    code = cli.main(["validate", str(missing), str(empty)])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.splitlines() == [
        f"{missing}: no such file or folder",
        f"{empty}: no .yaml, .yml or .json files in this folder",
        "2 problem(s) in 0 file(s)",
    ]


@pytest.mark.parametrize("name", ["several-errors", "invalid-yaml", "missing-profile", "empty"])
def test_plan_on_a_bad_file_exits_2(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code = cli.main(["plan", str(BAD / f"{name}.yaml")])
    out, err = capsys.readouterr()
    problems = expected(EXPERIMENTS, BAD, name)
    assert code == 2
    assert out == ""
    assert err.splitlines() == [*problems, f"invalid input: {len(problems)} problem(s); nothing was started"]
    assert "Traceback" not in err
