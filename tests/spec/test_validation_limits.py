"""Limits that would otherwise surface only in the middle of a run: each is an error at validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.spec.loader import load_experiment

BASE = """\
apiVersion: harness/v1
kind: Experiment
metadata: {name: limits}
slos:
  - name: a
    objective: 99
    sli: {ratio: {bad: 'x_total{code="500"}', total: x_total}}
load: {profile: shop-steady}
"""


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        pytest.param("faults:\n  - {name: 'slow dependency/x', type: latency, duration: 10s, delay: 1s}\n"
                     "hypothesis: [{slo: a}]\n",
                     "x.yaml:10 faults[0].name: use only letters, digits, '_', '.' and '-', got 'slow dependency/x'",
                     id="fault_name_the_proxy_cannot_carry"),
        pytest.param("faults:\n  - {name: slow, type: latency, duration: 10s, delay: 90s}\nhypothesis: [{slo: a}]\n",
                     "x.yaml:10 faults[0].delay: must be at most 1m, got '90s'", id="delay_beyond_the_proxy_limit"),
        pytest.param("hypothesis: [{slo: a}]\nevidence: {confidence: 100%}\n",
                     "x.yaml:10 evidence.confidence: use a confidence from 50% up to (not including) 100%, e.g. 95%; "
                     "got 100%", id="confidence_of_100_percent"),
        pytest.param("hypothesis: [{slo: a, min_budget_remaining: 50%}]\n",
                     "x.yaml:9 hypothesis[0].min_budget_remaining: the local platform's Prometheus starts empty, so "
                     "there is no budget history to gate on: use it with platform external (your Prometheus)",
                     id="budget_gate_on_the_local_platform"),
    ],
)
def test_limit_is_a_validation_error(tmp_path: Path, tail: str, expected: str) -> None:
    (tmp_path / "loadprofiles").mkdir()
    (tmp_path / "loadprofiles" / "shop-steady.yaml").write_text(
        Path("loadprofiles/shop-steady.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    path = tmp_path / "x.yaml"
    path.write_text(BASE + tail, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_experiment(path)
    assert [p.removeprefix(f"{tmp_path}/") for p in caught.value.problems] == [expected]
