"""The LoadProfile model: stages or arrival, the per-request timeout."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from harness.spec.profile import LoadProfile

BASE: dict[str, Any] = {"apiVersion": "harness/v1", "kind": "LoadProfile", "metadata": {"name": "p"},
                        "requests": [{"name": "home", "path": "/"}]}
STAGES = [{"duration": "5s", "users": 2, "spawn_rate": 2}]


def test_timeout_defaults_to_5s_and_wait_counts_as_not_given() -> None:
    profile = LoadProfile.model_validate({**BASE, "stages": STAGES})
    assert profile.timeout == 5.0
    assert "wait" not in profile.model_fields_set
    assert LoadProfile.model_validate({**BASE, "stages": STAGES, "timeout": "500ms"}).timeout == 0.5


def test_arrival_replaces_stages() -> None:
    profile = LoadProfile.model_validate({**BASE, "arrival": {"rate": 100, "max_in_flight": 200}})
    assert profile.arrival is not None and (profile.arrival.rate, profile.arrival.max_in_flight) == (100, 200)
    assert profile.stages is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param({"arrival": {"rate": 10}, "stages": STAGES}, "not both", id="arrival_and_stages"),
        pytest.param({"arrival": {"rate": 10}, "wait": {"throughput": 1}}, "'wait' has no meaning",
                     id="arrival_and_wait"),
        pytest.param({}, "give 'stages' (at least one) or 'arrival", id="neither"),
        pytest.param({"arrival": {"rate": 0}}, "greater than 0", id="zero_rate"),
    ],
)
def test_invalid_load_model_is_named(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LoadProfile.model_validate({**BASE, **extra})
