"""Headless Chromium for the HTML report: a screenshot, and where the plot elements landed in it."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from harness.reports.svg import BAND_FILL, PLOT_FILL


def screenshot(page: Path, out: Path, width: int = 1000, height: int = 9000) -> Image.Image:
    """The page rendered offline (no network services, a fresh profile) at a device scale of 1."""
    binary = shutil.which("chromium")
    assert binary, "chromium is not installed: scripts/setup.sh installs it"
    profile = out.parent / "chromium-profile"
    argv = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--force-device-scale-factor=1",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
            "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={out}", f"--window-size={width},{height}",
            page.resolve().as_uri()]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and out.exists(), done.stderr[-2000:]
    return Image.open(out).convert("RGB")


@dataclass(frozen=True)
class Area:
    """A plot area on the screenshot, in pixels: where time runs from left to right."""

    top: int
    bottom: int
    left: int
    right: int


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def plot_areas(image: Image.Image) -> list[Area]:
    """Every plot area, top to bottom, found by its own fill colour."""
    fill = _rgb(PLOT_FILL)
    pixels = image.load()
    assert pixels is not None
    rows: list[tuple[int, int, int]] = []  # (y, leftmost, rightmost) of rows holding the fill
    for y in range(image.height):
        xs = [x for x in range(image.width) if pixels[x, y] == fill]
        if len(xs) > 50:
            rows.append((y, min(xs), max(xs)))
    areas: list[Area] = []
    for y, left, right in rows:
        if areas and y <= areas[-1].bottom + 3:  # a grid line crosses the whole area
            last = areas[-1]
            areas[-1] = Area(last.top, y, min(last.left, left), max(last.right, right))
        else:
            areas.append(Area(y, y, left, right))
    return [a for a in areas if a.bottom - a.top > 40]


def band_columns(image: Image.Image, area: Area) -> tuple[int, int] | None:
    """The leftmost and rightmost pixel columns of the fault shading inside a plot area."""
    band = _rgb(BAND_FILL)
    pixels = image.load()
    assert pixels is not None
    middle = (area.top + area.bottom) // 2
    columns = [x for x in range(area.left, area.right + 1)
               if any(pixels[x, y] == band for y in range(middle - 10, middle + 10))]
    return (min(columns), max(columns)) if columns else None


def x_of(area: Area, time: float, start: float, end: float) -> float:
    """Where a time should be drawn in the area (the plots run from the series' start to its end)."""
    return area.left + (time - start) / (end - start) * (area.right - area.left)
