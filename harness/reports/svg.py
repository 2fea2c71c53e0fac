"""Time plots as inline SVG: lines with gaps where there is no data, shaded bands, marks and levels.

Written by hand so a report needs no plotting library and no script: it opens offline and prints.
Every drawn element carries its data (`data-start`, `data-end`, `data-value`) so a reader or a test
can tell where it should be; `TimePlot.x` is the one mapping from time to position.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 880, 230
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 30, 34
PLOT_FILL = "#fdfdfb"
"""The plot area's own colour, used nowhere else (a screenshot finds the plot area by it)."""
BAND_FILL = "#f8c9c4"
"""Fault windows, used nowhere else."""
MIN_BAND_PX = 3.0  # an instant fault (a kill) is still a visible band


@dataclass(frozen=True)
class Line:
    label: str
    times: Sequence[float]
    values: Sequence[float | None]
    color: str
    dash: str = ""
    """A dash pattern as well as a colour: the plot still reads printed in black and white."""


@dataclass(frozen=True)
class Level:
    label: str
    value: float
    color: str
    dash: str = "6 4"
    css: str = "level"


@dataclass(frozen=True)
class Band:
    label: str
    start: float
    end: float


@dataclass(frozen=True)
class Mark:
    label: str
    time: float


@dataclass(frozen=True)
class TimePlot:
    title: str
    start: float
    end: float
    y_min: float
    y_max: float
    y_format: str = "{:g}"
    lines: Sequence[Line] = ()
    levels: Sequence[Level] = ()
    bands: Sequence[Band] = ()
    marks: Sequence[Mark] = ()
    css: str = "plot"
    notes: Sequence[str] = field(default=())

    def x(self, time: float) -> float:
        span = self.end - self.start or 1.0
        return LEFT + (min(max(time, self.start), self.end) - self.start) / span * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        span = self.y_max - self.y_min or 1.0
        clipped = min(max(value, self.y_min), self.y_max)
        return TOP + (self.y_max - clipped) / span * (HEIGHT - TOP - BOTTOM)

    def svg(self) -> str:
        parts = [f'<svg class="{self.css}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
                 f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(self.title)}" '
                 f'data-start="{self.start:.3f}" data-end="{self.end:.3f}">',
                 f"<title>{escape(self.title)}</title>",
                 f'<rect class="plot-area" x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
                 f'height="{HEIGHT - TOP - BOTTOM}" fill="{PLOT_FILL}" stroke="#888" stroke-width="1"/>']
        parts += [self._band(band, row % 2) for row, band in enumerate(self.bands)]
        parts += self._axes()
        parts += [self._mark(mark) for mark in self.marks]
        parts += [self._level(level) for level in self.levels]
        parts += [self._line(line) for line in self.lines]
        parts.append("</svg>")
        return "\n".join(parts)

    def _band(self, band: Band, row: int) -> str:
        """The shaded window, labelled on one of two rows so that neighbouring faults stay readable."""
        x0, x1 = self.x(band.start), self.x(band.end)
        width = max(x1 - x0, MIN_BAND_PX)
        return (f'<g class="fault-band" data-start="{band.start:.3f}" data-end="{band.end:.3f}">'
                f'<rect x="{x0:.2f}" y="{TOP}" width="{width:.2f}" height="{HEIGHT - TOP - BOTTOM}" '
                f'fill="{BAND_FILL}"/><text x="{x0 + 3:.2f}" y="{TOP + 12 + 12 * row}" class="band-label">'
                f"{escape(band.label)}</text></g>")

    def _mark(self, mark: Mark) -> str:
        x = self.x(mark.time)
        return (f'<g class="phase-mark" data-time="{mark.time:.3f}"><line x1="{x:.2f}" x2="{x:.2f}" y1="{TOP - 4}" '
                f'y2="{HEIGHT - BOTTOM}" stroke="#555" stroke-dasharray="2 3"/>'
                f'<text x="{x + 3:.2f}" y="{TOP - 8}" class="mark-label">{escape(mark.label)}</text></g>')

    def _level(self, level: Level) -> str:
        y = self.y(level.value)
        return (f'<g class="{level.css}" data-value="{level.value:g}"><line x1="{LEFT}" x2="{WIDTH - RIGHT}" '
                f'y1="{y:.2f}" y2="{y:.2f}" stroke="{level.color}" stroke-width="1.5" '
                f'stroke-dasharray="{level.dash}"/><text x="{WIDTH - RIGHT - 4}" y="{y - 4:.2f}" '
                f'text-anchor="end" class="level-label" fill="{level.color}">{escape(level.label)}</text></g>')

    def _line(self, line: Line) -> str:
        path = " ".join(_segments([(self.x(t), self.y(v)) if v is not None and math.isfinite(v) else None
                                   for t, v in zip(line.times, line.values, strict=True)]))
        dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        return (f'<path class="series" data-label="{escape(line.label)}" d="{path}" fill="none" '
                f'stroke="{line.color}" stroke-width="2"{dash}/>')

    def _axes(self) -> list[str]:
        parts = []
        for value in nice_ticks(self.y_min, self.y_max, 5):
            y = self.y(value)
            parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.2f}" y2="{y:.2f}" stroke="#e4e4e4"/>'
                         f'<text x="{LEFT - 6}" y="{y + 4:.2f}" text-anchor="end" class="tick">'
                         f"{escape(self.y_format.format(value))}</text>")
        for offset in nice_ticks(0.0, self.end - self.start, 10):
            x = self.x(self.start + offset)
            parts.append(f'<line x1="{x:.2f}" x2="{x:.2f}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM + 4}" '
                         f'stroke="#888"/><text x="{x:.2f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                         f'class="tick">{offset:g}s</text>')
        return parts


def _segments(points: Sequence[tuple[float, float] | None]) -> list[str]:
    """Path commands: a gap (None) lifts the pen, so "no data" never looks like a value."""
    commands, drawing = [], False
    for point in points:
        if point is None:
            drawing = False
            continue
        commands.append(f"{'L' if drawing else 'M'}{point[0]:.2f},{point[1]:.2f}")
        drawing = True
    return commands or ["M0,0"]


def nice_ticks(low: float, high: float, count: int) -> list[float]:
    """About `count` round values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if not high > low:
        return [low]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def legend(lines: Sequence[Line], levels: Sequence[Level] = (), band: bool = False) -> str:
    """An HTML legend for a plot (outside the SVG: it wraps and prints as text)."""
    keyed: list[Line | Level] = [*lines, *levels]
    items = [f'<span class="key"><svg width="22" height="8"><line x1="0" x2="22" y1="4" y2="4" stroke="{item.color}" '
             f'stroke-width="2" stroke-dasharray="{item.dash}"/></svg>{escape(item.label)}</span>'
             for item in keyed]
    if band:
        items.append(f'<span class="key"><svg width="14" height="10"><rect width="14" height="10" '
                     f'fill="{BAND_FILL}"/></svg>fault active</span>')
    return f'<div class="legend">{"".join(items)}</div>'
