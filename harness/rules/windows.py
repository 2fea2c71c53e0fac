"""The burn-rate alert windows of the Google SRE workbook (and Sloth), for any SLO period.

For a 30-day period: page when 2 % of the budget burns in 1 h (burn rate 14.4, checked over 1 h and
5 m) or 5 % in 6 h (6, over 6 h and 30 m); ticket when 10 % burns in 1 d (3, over 1 d and 2 h) or
10 % in 3 d (1, over 3 d and 6 h). For another period the windows stay and the factor follows the
same share of the budget: factor = share x period / long window (28 d: 13.44, 5.6, 2.8, 0.93).

`experiment` windows are the production windows divided by EXPERIMENT_SCALE with the same factors:
the alert behaves as it would for a period that much shorter, so a page for a real breach fires
within about a minute and an experiment of a few minutes can prove the whole alert path.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

WindowsMode = Literal["production", "experiment"]
Severity = Literal["page", "ticket"]
EXPERIMENT_SCALE = 60
"""Experiment windows are production windows / 60: 1 h becomes 1 m, 5 m becomes 5 s."""


@dataclass(frozen=True)
class BurnWindow:
    """One condition of a multiwindow alert: burn rate above `factor` over both windows."""

    severity: Severity
    budget_share: Decimal
    """The share of the period's budget this condition catches burning within `long_s`."""
    long_s: int
    short_s: int
    factor: Decimal


# (severity, share of budget, long window, short window) as the workbook gives them for 30 days
_WORKBOOK = (
    ("page", Decimal("0.02"), 3600, 300),
    ("page", Decimal("0.05"), 6 * 3600, 1800),
    ("ticket", Decimal("0.10"), 86400, 2 * 3600),
    ("ticket", Decimal("0.10"), 3 * 86400, 6 * 3600),
)


def burn_windows(period_s: float, mode: WindowsMode) -> tuple[BurnWindow, ...]:
    """The four conditions for an SLO period, with windows shrunk for `experiment`."""
    period = Decimal(str(period_s))
    scale = EXPERIMENT_SCALE if mode == "experiment" else 1
    windows = []
    for severity, share, long_s, short_s in _WORKBOOK:
        factor = (share * period / Decimal(long_s)).quantize(Decimal("0.0001")).normalize()
        windows.append(BurnWindow(severity, share, long_s // scale, short_s // scale, factor))  # type: ignore[arg-type]
    return tuple(windows)


def window_text(seconds: int) -> str:
    """The shortest Prometheus duration for whole seconds: 300 → 5m, 86400 → 1d, 72 → 72s."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def evaluation_interval_s(mode: WindowsMode) -> int:
    """How often the rule groups are evaluated: every 1 s for experiment windows (5 s is the shortest
    window), Prometheus's usual 1 m for production windows (5 m is the shortest)."""
    return 1 if mode == "experiment" else 60
