"""The time series behind a report's plots, captured into the run folder (`series.json`) before the
platform stops, so a report can be drawn long after everything is gone.

Format (`kind: RunSeries`), all times unix seconds, one point per step (the scrape interval):

    {"apiVersion": "harness/v1", "kind": "RunSeries", "step_s": 1.0, "start": ..., "end": ...,
     "slis": [{"slo": "checkout", "objective": 0.99, "abort_burn_rate": 14.4, "burn_window_s": 30,
               "time": [...], "good": [...], "total": [...], "burn_rate": [...]}],
     "load": {"time": [...], "achieved_rps": [...], "requested_rps": [...]},
     "notes": ["..."]}

`good` and `total` are counted from the run's start up to each time, from the same raw samples and
the same exact counting as the verdict; `burn_rate` is the error ratio of those counts over the
trailing `burn_window_s` divided by the error budget (1 - objective), so a counter born inside the
window counts whole: the abort guard's window when the
experiment has an abort condition (its threshold, `abort_burn_rate`, is drawn against it), otherwise
a tenth of the run between 5 steps and 30 s. null is "no data at that time", never 0. The load is
per whole second: requests sent that started in [t, t + 1), and the rate the profile asked for then.
Phase and fault windows are in result.json beside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.result.model import RESULT_API_VERSION

SERIES_NAME = "series.json"


class SeriesPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


class SliSeries(SeriesPart):
    slo: str
    objective: float
    abort_burn_rate: float | None = None
    """The abort guard's burn-rate threshold for this SLO, drawn as a line (None: no abort condition)."""
    burn_window_s: float
    time: tuple[float, ...] = ()
    good: tuple[float | None, ...] = ()
    total: tuple[float | None, ...] = ()
    burn_rate: tuple[float | None, ...] = ()

    def sli(self) -> list[float | None]:
        """The cumulative SLI (good / total since the run started) at each time."""
        return [g / t if g is not None and t else None for g, t in zip(self.good, self.total, strict=True)]

    def trailing_sli(self, step_s: float) -> list[float | None]:
        """good / total over the trailing burn window (from the run's start while the window is longer)."""
        lag = max(1, round(self.burn_window_s / step_s))
        values: list[float | None] = []
        for i, (good, total) in enumerate(zip(self.good, self.total, strict=True)):
            good0, total0 = (self.good[i - lag], self.total[i - lag]) if i >= lag else (0.0, 0.0)
            if good is None or total is None or good0 is None or total0 is None or total - total0 <= 0:
                values.append(None)
            else:
                values.append((good - good0) / (total - total0))
        return values


class LoadSeries(SeriesPart):
    time: tuple[float, ...] = ()
    achieved_rps: tuple[float | None, ...] = ()
    requested_rps: tuple[float | None, ...] = ()


class RunSeries(SeriesPart):
    api_version: str = Field(default=RESULT_API_VERSION, alias="apiVersion")
    kind: str = "RunSeries"
    step_s: float
    start: float
    end: float
    slis: tuple[SliSeries, ...] = ()
    load: LoadSeries = Field(default_factory=LoadSeries)
    notes: tuple[str, ...] = ()

    def sli(self, slo: str) -> SliSeries | None:
        return next((s for s in self.slis if s.slo == slo), None)


def write_series(series: RunSeries, run_dir: Path) -> Path:
    path = run_dir / SERIES_NAME
    tmp = path.with_suffix(".json.tmp")
    # compact: a 10-minute run at a 1 s step stays well under 1 MB
    tmp.write_text(json.dumps(series.model_dump(mode="json", by_alias=True), separators=(",", ":")) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_series(run_dir: Path) -> tuple[RunSeries | None, str | None]:
    """The run's series and, when there are none or they cannot be read, why (a report says so)."""
    path = run_dir / SERIES_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RunSeries.model_validate(data), None
    except FileNotFoundError:
        return None, f"{path}: no series were captured for this run (the plots are left out)"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as err:
        return None, f"{path}: unreadable series ({str(err).splitlines()[0]}); the plots are left out"
