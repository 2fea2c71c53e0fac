"""Capture the series behind a report's plots at the end of a run, while Prometheus is still up.

The counts come from the same raw samples and the same exact counting as the verdict (cumulative
from the run's start); the burn rate is the error ratio of those counts over a trailing window.
Nothing here can fail a run: what cannot be captured is left as null with a note saying why.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from harness.errors import EvidenceError
from harness.evidence.counting import cumulative_increase
from harness.judge.slo import budget_ratio
from harness.load.client_sli import per_second
from harness.load.driver import LoadRun
from harness.load.record import DROPPED_REQUEST_NAME, Record
from harness.plan import Plan, SliQueries
from harness.prom.client import PromClient
from harness.promql import increase_query, raw_samples_query
from harness.result.series import LoadSeries, RunSeries, SliSeries
from harness.run.record import RunRecord
from harness.spec.loader import LoadedExperiment

log = logging.getLogger(__name__)

MAX_POINTS = 2000  # a long run at a fine scrape interval is drawn at a coarser step, not a bigger file
LONGEST_PLAIN_BURN_WINDOW_S = 30.0  # the verdict's peak-burn window without an abort condition

Values = list[float | None]


def capture_series(client: PromClient, loaded: LoadedExperiment, plan: Plan, state: RunRecord,
                   load: LoadRun) -> RunSeries | None:
    """The run's series, or None when no phase ever started (nothing to draw)."""
    starts = [p["start"] for p in state.phases.values() if "start" in p]
    ends = [p["end"] for p in state.phases.values() if "end" in p]
    if not starts or not ends or max(ends) <= min(starts):
        return None
    # whole milliseconds, as Prometheus evaluates a range query: its points then land on this grid
    start, end = round(min(starts), 3), max(ends)
    step = round(max(plan.scrape_interval_s, (end - start) / MAX_POINTS), 3)
    times = [round(start + step * k, 3) for k in range(1, int((end - start) / step) + 1)]
    notes: list[str] = []
    record = _record(load, notes)
    slis = [_sli_series(client, loaded, plan.sli(h.slo), start, end, step, times, record, notes)
            for h in loaded.experiment.hypothesis]
    return RunSeries(step_s=step, start=start, end=end, slis=tuple(slis),
                     load=_load_series(record, load, start, end), notes=tuple(notes))


def _record(load: LoadRun, notes: list[str]) -> Record | None:
    try:
        return load.record()
    except (OSError, ValueError) as err:
        notes.append(f"the load record could not be read ({err}): no load or client SLI series")
        return None


def _sli_series(client: PromClient, loaded: LoadedExperiment, sli: SliQueries, start: float, end: float,
                step: float, times: Sequence[float], record: Record | None, notes: list[str]) -> SliSeries:
    slo = loaded.slo(sli.slo)
    budget = float(budget_ratio(slo))
    abort = loaded.experiment.abort
    window_s = abort.window if abort else _plain_window(start, end, step)
    threshold = abort.max_burn_rate if abort and abort.slo in (None, slo.name) else None
    empty: Values = [None] * len(times)
    try:
        if sli.client is not None:
            good, total = _client_counts(record, sli, start, times)
        else:
            good, total = _prometheus_counts(client, sli, start, end, step, times)
    except EvidenceError as err:
        notes.append(f"{sli.slo}: no series captured ({err})")
        good, total = empty, empty
    burn = trailing_burn(good, total, max(1, round(window_s / step)), budget)
    return SliSeries(slo=sli.slo, objective=float(slo.objective / 100), abort_burn_rate=threshold,
                     burn_window_s=window_s, time=tuple(round(t, 3) for t in times), good=tuple(good),
                     total=tuple(total), burn_rate=tuple(_significant(b) for b in burn))


def _significant(value: float | None) -> float | None:
    """Six significant digits: more than a plot can show, and a third of the file."""
    return None if value is None else float(f"{value:.6g}")


def _plain_window(start: float, end: float, step: float) -> float:
    """Without an abort guard (whose threshold is drawn against its own window) a short run gets a
    shorter window than the verdict's 30 s peak-burn window, or the plot would be empty for half of it."""
    return max(5 * step, min(LONGEST_PLAIN_BURN_WINDOW_S, round((end - start) / 10)))


def _prometheus_counts(client: PromClient, sli: SliQueries, start: float, end: float, step: float,
                       times: Sequence[float]) -> tuple[Values, Values]:
    total = _cumulative(client, sli.total, sli, start, end, step, times)
    if sli.good is not None:
        return _cumulative(client, sli.good, sli, start, end, step, times), total
    bad = _cumulative(client, sli.bad or "", sli, start, end, step, times)
    # no bad series yet is no bad event yet (the verdict reads it the same way), when total is known
    good = [None if t is None else t - (b or 0.0) for t, b in zip(total, bad, strict=True)]
    return good, total


def _cumulative(client: PromClient, query: str, sli: SliQueries, start: float, end: float, step: float,
                times: Sequence[float]) -> Values:
    if sli.exact_countable:
        lookback = max(5.0, 3 * (sli.scrape_interval_s or step))
        answer = client.query(raw_samples_query(query, end - start + lookback), at=end)
        return cumulative_increase(answer.matrix, start, times)
    # a {{window}} expression: its increase per step, summed (Prometheus's own extrapolation applies)
    if not times:
        return []
    answer = client.query_range(increase_query(query, step), times[0], times[-1], step)
    per_step = _aligned(answer.matrix[0].points if answer.matrix else (), times)
    running, values = 0.0, []
    for value in per_step:
        running += value or 0.0
        values.append(running if value is not None else None)
    return values


def trailing_burn(good: Values, total: Values, lag: int, budget: float) -> Values:
    """The error ratio over the trailing `lag` points divided by the budget, from the exact cumulative
    counts (so a counter born inside the window counts whole, where `increase()` would miss its start);
    None before a whole window has passed or where a count is missing."""
    burn: Values = []
    for i, (g, t) in enumerate(zip(good, total, strict=True)):
        g0, t0 = (good[i - lag], total[i - lag]) if i >= lag else (None, None)
        if g is None or t is None or g0 is None or t0 is None or t - t0 <= 0 or budget <= 0:
            burn.append(None)
        else:
            burn.append((1.0 - (g - g0) / (t - t0)) / budget)
    return burn


def _aligned(points: Sequence[tuple[float, float]], times: Sequence[float]) -> Values:
    """The points on the time grid (a query_range at the grid's step lands on it); gaps and NaN are None."""
    found = {round(t, 3): v for t, v in points if math.isfinite(v)}
    return [found.get(round(t, 3)) for t in times]


def _client_counts(record: Record | None, sli: SliQueries, start: float,
                   times: Sequence[float]) -> tuple[Values, Values]:
    client = sli.client
    if record is None or record.started_at is None or client is None or not times:
        raise EvidenceError("the load record is empty")
    first = math.ceil(start)
    rows, problems = per_second(record, client, range(first, math.floor(times[-1])))
    if problems:
        raise EvidenceError("; ".join(problems))
    good: Values = []
    total: Values = []
    for at in times:
        done = rows[:max(0, math.floor(at) - first)]  # whole seconds that ended by `at`
        total.append(float(sum(t for t, _ in done)))
        good.append(float(sum(g for _, g in done)))
    return good, total


def _load_series(record: Record | None, load: LoadRun, start: float, end: float) -> LoadSeries:
    """Requests sent per whole second (started in [t, t+1)) and the rate the profile asked for then."""
    if record is None or record.started_at is None or load.started_at is None:
        return LoadSeries()
    began, stopped = math.floor(record.started_at), record.stopped_at or math.inf
    seconds = range(math.floor(start), math.ceil(end))
    achieved = [float(sum(n for name, (n, _) in record.counts.get(s, {}).items() if name != DROPPED_REQUEST_NAME))
                if began <= s < stopped else None for s in seconds]
    requested = [load.config.mean_requested_rps(s - load.started_at, s + 1 - load.started_at) for s in seconds]
    return LoadSeries(time=tuple(float(s) for s in seconds), achieved_rps=tuple(achieved),
                      requested_rps=tuple(requested))
