"""The typed, frozen model of a LoadProfile file (`harness/v1`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from harness.spec.models import Metadata
from harness.spec.types import Duration, Model, PositiveDuration


class RequestItem(Model):
    name: str = Field(min_length=1)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    path: str
    weight: int = Field(default=1, ge=1)
    json_body: Any = Field(default=None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"expected a path starting with '/', got {value!r}")
        return value


class StageItem(Model):
    duration: PositiveDuration
    users: int = Field(ge=0)
    spawn_rate: float = Field(gt=0)


class Wait(Model):
    min: Duration | None = None
    max: Duration | None = None
    throughput: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_model(self) -> Wait:
        between = self.min is not None or self.max is not None
        if between and self.throughput is not None:
            raise ValueError("give either 'min'/'max' (think time) or 'throughput' (requests/s per user), not both")
        if between and (self.min is None or self.max is None):
            raise ValueError("give both 'min' and 'max'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("'min' is longer than 'max'")
        if not between and self.throughput is None:
            raise ValueError("give 'min' and 'max' (think time) or 'throughput' (requests/s per user)")
        return self


class Arrival(Model):
    """An open model: `rate` requests/s started on schedule, at most `max_in_flight` at once."""

    rate: float = Field(gt=0)
    max_in_flight: int | None = Field(default=None, ge=1)


class LoadProfile(Model):
    """A load profile. `timeout` (default 5s) bounds each request: one still unanswered then is a
    failure. `wait` defaults to 100-500 ms think time for the built-in requests user only; a user
    locustfile keeps its own `wait_time` unless `wait` is given (`"wait" in model_fields_set`).
    `arrival` replaces `stages` (and `wait`) with an open model.

    `client` picks the HTTP client of the built-in requests user: `requests` (the default) makes it a
    Locust HttpUser (python-requests), `fasthttp` a FastHttpUser (geventhttpclient: ~4x the requests per
    second from one process) whose requests are sent once, never resent after a broken connection (plain
    geventhttpclient resends a GET on a new connection, so a replica killed mid-request would pass as a
    success). A user locustfile picks its own User classes: `client` is then refused."""

    api_version: Literal["harness/v1"] = Field(alias="apiVersion")
    kind: Literal["LoadProfile"]
    metadata: Metadata
    host: str | None = None
    requests: tuple[RequestItem, ...] | None = None
    locustfile: str | None = None
    stages: tuple[StageItem, ...] | None = None
    arrival: Arrival | None = None
    timeout: PositiveDuration = 5.0
    client: Literal["requests", "fasthttp"] = "requests"
    # Built from the file's own spelling: Duration refuses bare numbers, even in a default.
    wait: Wait = Field(default_factory=lambda: Wait.model_validate({"min": "100ms", "max": "500ms"}))

    @model_validator(mode="after")
    def _requests_or_locustfile(self) -> LoadProfile:
        if (self.requests is None) == (self.locustfile is None):
            raise ValueError("give exactly one of 'requests' (a list) or 'locustfile' (your own Locust file)")
        if self.requests is not None and not self.requests:
            raise ValueError("'requests' is empty: list at least one request")
        if self.locustfile is not None and "client" in self.model_fields_set:
            raise ValueError("'client' picks the built-in requests user's HTTP client; a locustfile picks its own "
                             "(HttpUser or FastHttpUser): remove 'client'")
        return self

    @model_validator(mode="after")
    def _stages_or_arrival(self) -> LoadProfile:
        if self.arrival is not None:
            if self.stages is not None:
                raise ValueError("give either 'stages' (users, a closed model) or 'arrival' (an open model), not both")
            if "wait" in self.model_fields_set:
                raise ValueError("'wait' has no meaning with 'arrival': each arrival sends one request on schedule")
        elif not self.stages:
            raise ValueError("give 'stages' (at least one) or 'arrival: {rate: ...}'")
        return self
