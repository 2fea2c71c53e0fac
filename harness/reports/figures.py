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


def figure_value(kind: str, value: float | None) -> str:
    """A compared figure as reports show it: SLIs and budgets in percent, burn rates as a multiple."""
    if kind == "burn":
        return num(value)
    return pct(value, 3 if kind == "sli" else 4)
