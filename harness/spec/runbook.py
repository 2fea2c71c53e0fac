"""The `kind: Runbook` file: the steps a remediation runs, in order, each bounded in time.

    apiVersion: harness/v1
    kind: Runbook
    metadata: {name: restart-shop}
    steps:
      - name: restart missing replicas
        http: {method: POST, url: "${SUPERVISOR_URL}/restart", json: {all_missing: true}, timeout: 5s}
      - name: wait until healthy
        wait_for: {query: 'min(shop_replicas_ready) >= 3', within: 30s}

Step kinds: `http`, `command` (an argv list, never a shell string), `chaostoolkit` (one activity)
and `wait_for` (a PromQL condition that holds when the query returns a sample; `within` is
mandatory). Secrets only through `${ENV}`, which is filled in from the environment, and on a
platform from the variables it offers (`SUPERVISOR_URL`, `EDGE_ADMIN_URL`, `PROMETHEUS_URL`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from harness.spec.types import HttpUrl, Model, Name, PositiveDuration

STEP_KINDS = ("http", "command", "chaostoolkit", "wait_for")


class HttpStep(Model):
    url: HttpUrl
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(default=None, alias="json")
    timeout: PositiveDuration = 10.0
    expect_status: tuple[int, ...] = (200, 201, 202, 204)


class CommandStep(Model):
    argv: tuple[str, ...] = Field(min_length=1)
    timeout: PositiveDuration = 30.0


class ChaosToolkitStep(Model):
    activity: dict[str, Any]
    """A Chaos Toolkit action, as in an experiment's `method`."""


class WaitForStep(Model):
    query: str = Field(min_length=1)
    within: PositiveDuration
    every: PositiveDuration = 1.0


class RunbookStep(Model):
    name: str = Field(min_length=1)
    http: HttpStep | None = None
    command: CommandStep | None = None
    chaostoolkit: ChaosToolkitStep | None = None
    wait_for: WaitForStep | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_known_kind(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kinds = [key for key in data if key in STEP_KINDS]
        unknown = [key for key in data if key not in (*STEP_KINDS, "name")]
        if unknown and not kinds:
            raise ValueError(f"unknown step kind {unknown[0]!r}: use one of {', '.join(STEP_KINDS)}")
        if len(kinds) != 1 and not unknown:
            raise ValueError(f"give exactly one step kind of {', '.join(STEP_KINDS)}, got {len(kinds)}")
        command = data.get("command")
        if isinstance(command, list):
            data = {**data, "command": {"argv": command}}
        if isinstance(data.get("chaostoolkit"), dict) and "activity" not in data["chaostoolkit"]:
            data = {**data, "chaostoolkit": {"activity": data["chaostoolkit"]}}
        return data

    @field_validator("command", mode="before")
    @classmethod
    def _argv_not_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError("give the command as an argv list like [systemctl, restart, shop], not a string: "
                             "a string would need a shell, and runbooks never use one")
        return value

    @property
    def kind(self) -> str:
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)

    @property
    def timeout_s(self) -> float:
        """The longest this step may take (a wait_for's `within`, another step's `timeout`)."""
        if self.wait_for is not None:
            return self.wait_for.within
        if self.http is not None:
            return self.http.timeout
        if self.command is not None:
            return self.command.timeout
        return 60.0  # a Chaos Toolkit activity bounds itself (its provider's own timeout)


class RunbookMetadata(Model):
    name: Name
    description: str = ""


class Runbook(Model):
    api_version: Literal["harness/v1"] = Field(alias="apiVersion")
    kind: Literal["Runbook"]
    metadata: RunbookMetadata
    steps: tuple[RunbookStep, ...] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _unique_names(cls, steps: tuple[RunbookStep, ...]) -> tuple[RunbookStep, ...]:
        names = [s.name for s in steps]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"step name {name!r} is used more than once")
        return steps
