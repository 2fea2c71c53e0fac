"""Faults that prove themselves: `verify:` checks, and a failed injection that leaves nothing to roll back."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cli import commands
from harness.faults.base import FaultCheck, FaultContext
from harness.faults.verify import check
from harness.plan import FaultSlot
from harness.prom.client import QueryAnswer, Sample
from harness.run.faultrunner import FaultRunner, combined
from harness.run.journal import Journal, pending
from harness.spec.faults import FaultVerify
from tests.faults import FakePlatform, events, load_faults, slot_of, write_experiment


def fake_clock() -> tuple[Callable[[], float], Callable[[float], None]]:
    now = [1000.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    return (lambda: now[0]), sleep


def answers(*held: bool) -> Callable[[str, float], QueryAnswer]:
    """A query that holds (one sample) or not (empty), in turn; the last answer repeats."""
    queue = itertools.chain(held, itertools.repeat(held[-1]))

    def query(promql: str, at: float) -> QueryAnswer:
        samples = (Sample({}, 0.0),) if next(queue) else ()
        return QueryAnswer(promql, at, "vector", vector=samples)

    return query


@pytest.mark.parametrize(("held", "took", "observed"), [
    ((True,), True, "verify query `up == 0` held after 0.0s"),
    ((False, False, True), True, "verify query `up == 0` held after 1.0s"),
    ((False,), False, "verify query `up == 0` did not hold within 3s (last answer: empty)"),
], ids=["holds_at_once", "holds_after_two_tries", "never_holds"])
def test_verify_query(held: tuple[bool, ...], took: bool, observed: str) -> None:
    clock, sleep = fake_clock()
    verify = FaultVerify.model_validate({"query": "up == 0", "within": "3s"})
    assert check(verify, answers(*held), clock, sleep) == FaultCheck(took, observed)


def test_verify_without_prometheus_cannot_be_checked() -> None:
    clock, sleep = fake_clock()
    verify = FaultVerify.model_validate({"query": "up == 0"})
    result = check(verify, None, clock, sleep)
    assert result.took_effect is None and "no Prometheus" in result.observed


@pytest.mark.parametrize(("own", "verified", "took"), [
    (True, True, True), (True, False, False), (False, True, False), (True, None, None), (None, True, None),
], ids=["both_hold", "verify_fails", "own_check_fails", "verify_unknown", "own_unknown"])
def test_both_checks_must_hold(own: bool | None, verified: bool | None, took: bool | None) -> None:
    result = combined(FaultCheck(own, "own"), FaultCheck(verified, "verify"))
    assert result == FaultCheck(took, "own; verify")


def _runner(tmp_path: Path, experiment: Path, query: Callable[[str, float], QueryAnswer] | None) -> FaultRunner:
    clock, sleep = fake_clock()

    def context(slot: FaultSlot) -> FaultContext:
        return FaultContext(FakePlatform(), tmp_path / "run", experiment, slot.index, "seed", query=query)

    return FaultRunner(Journal(tmp_path / "run"), context, clock, sleep=sleep)


def test_a_process_fault_that_did_nothing_is_caught_by_its_verify(tmp_path: Path) -> None:
    fault = {"name": "pause", "type": "process", "duration": "10s", "start": ["true"], "stop": ["true"],
             "verify": {"query": 'up{instance="app2"} == 0', "within": "2s"}}
    experiment = write_experiment(tmp_path, [fault])
    runner = _runner(tmp_path, experiment, answers(False))
    record = runner.inject(slot_of(load_faults(experiment), 0))
    runner.revert_all()
    runner.verify_all()
    assert record.check is not None
    assert record.check.took_effect is False
    assert "did not hold within 2s" in record.check.observed
    assert "no verify: block" not in record.check.observed


def test_a_process_fault_without_verify_says_its_effect_was_not_checked(tmp_path: Path) -> None:
    fault = {"name": "pause", "type": "process", "duration": "10s", "start": ["true"], "stop": ["true"]}
    experiment = write_experiment(tmp_path, [fault])
    runner = _runner(tmp_path, experiment, None)
    record = runner.inject(slot_of(load_faults(experiment), 0))
    runner.revert_all()
    runner.verify_all()
    assert record.check is not None and record.check.took_effect is True
    assert record.check.observed.endswith("(no verify: block, so its effect itself was not checked)")


def test_rollback_of_a_run_whose_only_injection_failed_has_nothing_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fault = {"name": "pause", "type": "process", "duration": "10s", "start": ["false"], "stop": ["false"]}
    experiment = write_experiment(tmp_path, [fault])
    runner = _runner(tmp_path, experiment, None)
    record = runner.inject(slot_of(load_faults(experiment), 0))
    runner.revert_all()
    assert record.error is not None and record.error.startswith("injection failed: pause start: false exited with 1")
    assert (record.reverted, record.revert_error) == (None, None)
    assert events(tmp_path / "run") == ["intent", "apply-failed"]
    assert pending(tmp_path / "run") == []
    assert commands.rollback(tmp_path / "run") == 0
    assert "nothing to roll back" in capsys.readouterr().out
    assert commands.rollback(tmp_path / "run") == 0  # and again


def test_process_targets_show_the_argv_with_secrets_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.faults.masking import secret_values, shown_argv

    monkeypatch.setenv("API_TOKEN", "s3cr3t-value")
    monkeypatch.setenv("TARGET_PID_FILE", "/run/app2.pid")
    ctx = FaultContext(FakePlatform(), Path("."), Path("x.yaml"), 0, "seed")
    shown = shown_argv(("curl", "-H", "Authorization: Bearer s3cr3t-value", "/run/app2.pid", "kill"),
                       secret_values(ctx))
    assert shown == "curl -H 'Authorization: Bearer ***' *** kill"
