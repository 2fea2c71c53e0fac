"""Durations and percentages as the file format writes them."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")  # a quoted bare number (`"60"`) lacks its unit too
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


# Units a bare number most likely meant, per field; the first is the suggestion, the others alternatives.
_FIELD_UNITS: dict[str, tuple[str, ...]] = {
    "delay": ("ms", "s"), "jitter": ("ms", "s"), "threshold": ("ms", "s"), "latency": ("ms", "s"),
    "timeout": ("s", "ms"), "period": ("d", "w", "h"),
}
_DEFAULT_UNITS = ("s", "m", "ms")


class BareNumberError(ValueError):
    """A duration written without its unit; the loader names the field and so the likely unit."""

    def __init__(self, value: object) -> None:
        self.value = value
        super().__init__(bare_number_message(value))


def bare_number_message(value: object, field: str | None = None) -> str:
    """`add a unit: 5s, 5m or 5ms`, with the field's likeliest unit first (never only minutes)."""
    number = str(value).strip()
    units = _FIELD_UNITS.get(field or "", _DEFAULT_UNITS)
    spelled = [f"{number}{unit}" for unit in units]
    choices = spelled[0] if len(spelled) == 1 else f"{', '.join(spelled[:-1])} or {spelled[-1]}"
    return f"expected a duration with a unit, got {value!r}: add a unit: {choices}"


def parse_duration(value: object) -> float:
    """`90s`, `1.5m`, `200ms`, `30d` → seconds. A bare number is refused: units are never implied."""
    if (isinstance(value, int | float) and not isinstance(value, bool)) or (
        isinstance(value, str) and _NUMBER.match(value)
    ):
        raise BareNumberError(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like 200ms, 30s or 5m, got {type(value).__name__}")
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"expected a duration like 200ms, 30s or 5m, got {value!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def format_duration(seconds: float) -> str:
    """Seconds → the shortest readable spelling (`90s`, `2m`, `30d`, `250ms`)."""
    if seconds == 0:
        return "0s"
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    if seconds < 1:
        millis = seconds * 1000
        return f"{millis:g}ms"
    return f"{seconds:g}s"


def parse_percent(value: object) -> Decimal:
    """`"2%"`, `"0.5%"` or a plain number read as percent (`99.5`) → Decimal percent."""
    if isinstance(value, bool):
        raise ValueError(f"expected a percentage like 2% or 99.5, got {value!r}")
    if isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value)
    elif isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
    else:
        raise ValueError(f"expected a percentage like 2% or 99.5, got {type(value).__name__}")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"expected a percentage like 2% or 99.5, got {value!r}") from None
    if not number.is_finite() or number < 0 or number > 100:
        raise ValueError(f"expected a percentage between 0% and 100%, got {value!r}")
    return number


def format_percent(value: Decimal) -> str:
    return f"{value.normalize():f}%"
