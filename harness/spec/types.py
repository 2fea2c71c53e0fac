"""Annotated field types shared by every model of the file format."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from harness.spec.units import parse_duration, parse_percent

Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written in the file with a unit (`90s`, `1.5m`)."""

Percent = Annotated[Decimal, BeforeValidator(parse_percent)]
"""A percentage in [0, 100], exact (Decimal), written `2%` or `99.5`."""

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _check_name(value: str) -> str:
    if len(value) > 63:
        raise ValueError(f"must be at most 63 characters, got {len(value)}")
    if not _NAME.match(value):
        raise ValueError(f"use lowercase letters, digits and '-' (not at either end), got {value!r}")
    return value


Name = Annotated[str, AfterValidator(_check_name)]
"""A DNS-label-like name: lowercase letters, digits, '-'; at most 63 characters."""

PositiveDuration = Annotated[Duration, AfterValidator(lambda v: _positive(v))]


def _check_http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value


HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
"""An http:// or https:// URL, as written."""


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be longer than 0s")
    return value


class Model(BaseModel):
    """Base of every file model: frozen, and unknown keys are errors (typos must not pass)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
