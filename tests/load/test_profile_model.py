"""The LoadProfile model: stages or arrival, the per-request timeout, the built-in user's client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from harness.plan import build_plan
from harness.run.loadconfig import load_config
from harness.spec.loader import load_experiment
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


def test_client_defaults_to_requests_and_takes_fasthttp() -> None:
    assert LoadProfile.model_validate({**BASE, "stages": STAGES}).client == "requests"
    assert LoadProfile.model_validate({**BASE, "stages": STAGES, "client": "fasthttp"}).client == "fasthttp"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param({"client": "httpx"}, "Input should be 'requests' or 'fasthttp'", id="unknown_client"),
        pytest.param({"requests": None, "locustfile": "users.py", "client": "requests"},
                     "'client' picks the built-in requests user's HTTP client; a locustfile picks its own "
                     "(HttpUser or FastHttpUser): remove 'client'", id="client_with_locustfile"),
    ],
)
def test_invalid_client_is_named(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LoadProfile.model_validate({**BASE, "stages": STAGES, **extra})


def test_the_client_reaches_the_load_config(tmp_path: Path) -> None:
    profile = {**BASE, "stages": STAGES, "client": "fasthttp"}
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
    doc = {"apiVersion": "harness/v1", "kind": "Experiment", "metadata": {"name": "fast"},
           "target": {"platform": "local"},
           "slos": [{"name": "avail", "objective": 99, "sli": {"ratio": {"bad": "a", "total": "b"}}}],
           "load": {"profile": "profile.yaml"}, "hypothesis": [{"slo": "avail"}]}
    (tmp_path / "fast.yaml").write_text(yaml.safe_dump(doc))
    loaded = load_experiment(tmp_path / "fast.yaml")
    config = load_config(loaded, build_plan(loaded), "http://127.0.0.1:8080")
    assert config.client == "fasthttp"
    assert config.to_plan(tmp_path / "record.jsonl")["client"] == "fasthttp"
