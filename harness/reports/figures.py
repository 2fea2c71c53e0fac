"""How numbers are written in every report: percentages with their significant digits, "-" for unknown."""

from __future__ import annotations


def pct(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if 0 < abs(value) * 100 < 10 ** -digits:  # tiny but not zero: show its significant digits
        return f"{value * 100:.2g}%"
    return f"{value * 100:.{digits}f}%"


def num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)
