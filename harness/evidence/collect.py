"""Collecting evidence (I/O): every SLI counted over each phase's exact window, plus telemetry health.

All queries of one window are evaluated at that window's end, after the last scrape has landed.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from harness.errors import EvidenceError
from harness.evidence.counting import Count
from harness.evidence.health import ExpectDown, SliHealth, read_selectors, sli_health
from harness.evidence.phase import ClientCounts, PhaseEvidence
from harness.evidence.queries import count_exact, count_increase, histogram_bounds
from harness.plan import Plan, SliQueries, burn_query, window_queries
from harness.prom.client import PromClient
from harness.promql import find_bound, increase_query, is_selector, window_literal

log = logging.getLogger(__name__)
_METRIC = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")


@dataclass(frozen=True)
class Window:
    phase: str
    start: float
    end: float
    nominal_s: float | None = None
    """The phase's planned length: rules about window length compare it, so they never flip on the
    milliseconds by which a measured window differs."""


_NAME_MATCHER = re.compile(r'__name__\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"')


def metric_name(selector: str) -> str | None:
    """The metric name(s) a selector reads: `x_total`, or its `__name__` matcher's value."""
    if not is_selector(selector):
        return None
    match = _METRIC.match(selector)
    if match and not selector.lstrip().startswith("{"):
        return match.group(1)
    named = _NAME_MATCHER.search(selector)
    return named.group(2) if named else None


def _name_only_selector(selector: str) -> str | None:
    match = _METRIC.match(selector)
    if match and not selector.lstrip().startswith("{"):
        return f'{{__name__="{match.group(1)}"}}'
    named = _NAME_MATCHER.search(selector)
    return f'{{__name__{named.group(1)}"{named.group(2)}"}}' if named else None


def metric_exists(client: PromClient, selector: str, start: float, end: float) -> bool:
    """Whether the selector's metric has any series at all (with any labels) in the window."""
    names = _name_only_selector(selector) if is_selector(selector) else None
    if names is None:
        return False
    query = f"count(last_over_time({names}[{window_literal(max(end - start, 1.0))}]))"
    answer = client.query(query, at=end)
    return any(sample.value > 0 for sample in answer.vector)


def count_side(client: PromClient, text: str, window: Window, plan: Plan, exact: bool, required: bool) -> Count:
    lookback = plan.lookback_s
    if exact and is_selector(text):
        count = count_exact(client, text, window.start, window.end, lookback)
    else:
        count = count_increase(client, text, window.start, window.end)
    if _nothing_matched(count) and not required and is_selector(text) and \
            metric_exists(client, text, window.start - lookback, window.end):
        # The metric exists but no series matches: no such event happened (e.g. no 5xx yet). A
        # misspelt metric has no series at all and stays "no data".
        return replace(count, value=0.0, problems=())
    return count


def _nothing_matched(count: Count) -> bool:
    """No usable value only because no series matched; NaN, Inf or warnings must never become 0."""
    return count.value is None and bool(count.problems) and \
        all(p.startswith(("no samples", "empty result")) for p in count.problems)


def series_jobs(client: PromClient, selector: str, window: Window) -> list[str]:
    if not is_selector(selector):
        return []
    query = f"count by (job) (last_over_time({selector}[{window_literal(window.end - window.start)}]))"
    return sorted({s.labels.get("job", "") for s in client.query(query, at=window.end).vector} - {""})


_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def unknown_labels(client: PromClient, selector: str, start: float, end: float) -> list[str]:
    """Label names a selector matches on that its metric never carries: a typo (`cod=~"5.."`) would
    otherwise match nothing and read as "no errors"."""
    names = _name_only_selector(selector) if is_selector(selector) else None
    if names is None or "{" not in selector:
        return []
    window = window_literal(max(end - start, 1.0))
    missing = []
    for label, op, value in _MATCHER.findall(selector[selector.index("{"):]):
        if label == "__name__" or (op in ("=", "=~") and _accepts_empty(op, value)):
            continue  # a matcher that accepts the empty value also selects series without the label
        query = f'count(last_over_time({names[:-1]},{label}!=""}}[{window}]))'
        if not any(sample.value > 0 for sample in client.query(query, at=end).vector):
            missing.append(label)
    return missing


def _accepts_empty(op: str, value: str) -> bool:
    if op == "=":
        return value == ""
    try:
        return re.fullmatch(value, "") is not None
    except re.error:
        return True  # a regex Python cannot read: do not guess


def interval_of(sli: SliQueries, plan: Plan) -> float:
    return sli.scrape_interval_s or plan.scrape_interval_s


def telemetry_health(client: PromClient, sli: SliQueries, window: Window, plan: Plan,
                     expected: Sequence[ExpectDown], total: Count) -> SliHealth:
    """Health scoped to the targets the SLI reads, with a bound on what their outages can hide."""
    interval = interval_of(sli, plan)
    length = window.nominal_s if window.nominal_s is not None else window.end - window.start
    short = []
    if length < 2 * interval:
        short.append(f"the {window.phase} window ({length:g}s) is shorter than two scrape intervals "
                     f"({interval:g}s): too short to measure")
    rate = (total.value or 0.0) / max(window.end - window.start, 1e-9)
    health = sli_health(client, read_selectors((sli.total, sli.good, sli.bad)), sli.total, window.start,
                        window.end, interval, plan.lookback_s, expected, rate)
    return replace(health, problems=(*short, *health.problems))


def collect_phase(client: PromClient, sli: SliQueries, window: Window, plan: Plan, exact: bool,
                  client_counts: ClientCounts | None, expected: Sequence[ExpectDown] = ()) -> PhaseEvidence:
    try:
        total = count_side(client, sli.total, window, plan, exact, required=True)
        good = count_side(client, sli.good, window, plan, exact, False) if sli.good is not None else None
        bad = count_side(client, sli.bad, window, plan, exact, False) if sli.bad is not None else None
        health = telemetry_health(client, sli, window, plan, expected, total)
    except (EvidenceError, ValueError) as err:
        failed = Count(None, "exact-samples" if exact else "increase", 0, problems=(f"query failed: {err}",))
        return PhaseEvidence(window.phase, window.start, window.end, failed, None, None, (), client_counts)
    return PhaseEvidence(window.phase, window.start, window.end, total, good, bad, health.problems,
                         client_counts, window_queries(sli, window.end - window.start, exact, plan.lookback_s),
                         latency_quantiles(client, sli, window), interval_of(sli, plan),
                         health.missing, health.missing_reasons, health.notes, sli.kind)


def collect_phases(client: PromClient, work: Sequence[tuple[SliQueries, Window, ClientCounts | None]], plan: Plan,
                   exact: bool, workers: int = 4, expected: Sequence[ExpectDown] = ()) -> list[PhaseEvidence]:
    """collect_phase for many (SLI, window) pairs, a few at a time: each query costs a round trip, and
    judging 20 SLOs over 3 phases sends hundreds of them. Results keep the order of `work`."""
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="collect") as pool:
        return list(pool.map(lambda item: collect_phase(client, item[0], item[1], plan, exact, item[2], expected),
                             work))


QUANTILES = (0.5, 0.95, 0.99)


def latency_quantiles(client: PromClient, sli: SliQueries, window: Window) -> dict[str, float | None]:
    """p50/p95/p99 of a latency SLI's histogram over the window: context only, never a verdict.

    Interpolated inside buckets, they can be far off (0.4 s reported for a true 0.9 s p99).
    """
    if sli.histogram is None:
        return {}
    window_s = window_literal(window.end - window.start)
    buckets = f"sum by (le) (increase({sli.histogram}_bucket{sli.selector}[{window_s}]))"
    found: dict[str, float | None] = {}
    for q in QUANTILES:
        try:
            answer = client.query(f"histogram_quantile({q}, {buckets})", at=window.end)
        except EvidenceError:
            found[f"p{q * 100:g}"] = None
            continue
        values = [v.value for v in answer.vector if v.value == v.value and abs(v.value) != float("inf")]
        found[f"p{q * 100:g}"] = values[0] if values else None
    return found


def peak_burn_rate(client: PromClient, sli: SliQueries, budget: float, start: float, end: float,
                   window_s: float, step_s: float) -> float | None:
    """The highest burn rate over any trailing window of window_s inside [start, end]."""
    if end - start < window_s or budget <= 0:
        return None
    ratio = burn_query(sli, window_s)
    try:
        answer = client.query_range(ratio, start + window_s, end, step_s)
    except EvidenceError as err:
        log.warning("peak burn rate unavailable: %s", err)
        return None
    values = [v for series in answer.matrix for _, v in series.points if v == v and abs(v) != float("inf")]
    return max(values) / budget if values else None


def resolve_latency_bounds(client: PromClient, slis: Sequence[SliQueries], at: float,
                           lookback_s: float) -> tuple[list[SliQueries], list[str]]:
    """Spell each latency threshold as Prometheus stores its bucket bound; list thresholds that are not bounds."""
    resolved, problems = [], []
    for sli in slis:
        if sli.histogram is None or sli.threshold_s is None:
            resolved.append(sli)
            continue
        bounds = histogram_bounds(client, sli.histogram, sli.selector, at - lookback_s, at)
        if not bounds:
            problems.append(f"SLO {sli.slo}: histogram {sli.histogram}_bucket{sli.selector} {NO_SERIES_YET} "
                            f"{lookback_s:.0f}s: is the name right, and is it scraped?")
            resolved.append(sli)
            continue
        le = find_bound(bounds, sli.threshold_s)
        if le is None:
            shown = ", ".join(text for text, _ in bounds)
            problems.append(f"SLO {sli.slo}: threshold {sli.threshold_s * 1000:g}ms is not a bucket bound of "
                            f"{sli.histogram} (its bounds are {shown}): choose one of them")
            resolved.append(sli)
            continue
        resolved.append(sli.with_bound(le))
    return resolved, problems


NO_SERIES_YET = "has no series in the last"
"""Problems with this text may only mean the system has served nothing yet: checked again under load."""


def _no_series(client: PromClient, name: str | None, start: float, end: float, lookback_s: float) -> str:
    """Why a metric has no series: a near spelling of an existing metric is a typo, refused before any
    load; otherwise it may not exist yet (a fresh system), and is checked again under load."""
    try:
        names = client.metric_names(start, end)
    except EvidenceError:
        names = []
    near = difflib.get_close_matches(name or "", names, n=1, cutoff=0.85) if name else []
    if near:
        return f"does not exist in the last {lookback_s:.0f}s: misspelt? did you mean {near[0]}?"
    return f"{NO_SERIES_YET} {lookback_s:.0f}s (misspelt, renamed, or not scraped?)"


def label_value_misses(client: PromClient, selector: str, start: float, end: float) -> list[str]:
    """Equality matchers whose value the metric never had while a near spelling exists (`5XX` → `5xx`).

    A value not seen at all without a near miss may simply not have happened yet (no 503 so far): the
    contradiction check at judging time covers that case.
    """
    names = _name_only_selector(selector) if is_selector(selector) else None
    if names is None or "{" not in selector:
        return []
    window = window_literal(max(end - start, 1.0))
    misses = []
    for label, op, value in _MATCHER.findall(selector[selector.index("{"):]):
        if label == "__name__" or op not in ("=", "=~") or _accepts_empty(op, value):
            continue
        query = f'count by ({label}) (last_over_time({names[:-1]},{label}!=""}}[{window}]))'
        seen = sorted({s.labels.get(label, "") for s in client.query(query, at=end).vector} - {""})
        near = _near_misses(op, value, seen)
        if near:
            shown = ", ".join(seen[:12]) + (", ..." if len(seen) > 12 else "")
            misses.append(f'matches {label}{op}"{value}", which {metric_name(selector)} never had in the last '
                          f'{end - start:.0f}s (its {label} values: {shown}): did you mean "{near[0]}"?')
    return misses


def _near_misses(op: str, value: str, seen: Sequence[str]) -> list[str]:
    if op == "=":
        if value in seen:
            return []
        folded = [v for v in seen if v.lower() == value.lower()]
        return folded or difflib.get_close_matches(value, seen, n=1, cutoff=0.75)
    try:
        pattern = re.compile(value)
        folded_pattern = re.compile(value, re.IGNORECASE)
    except re.error:
        return []
    if any(pattern.fullmatch(v) for v in seen):
        return []
    return [v for v in seen if folded_pattern.fullmatch(v)]


def preflight(client: PromClient, slis: Sequence[SliQueries], at: float, lookback_s: float) -> list[str]:
    """Every query runs once before anything is injected: it must parse and its metrics must exist."""
    problems = []
    for sli in slis:
        if not sli.from_prometheus:
            continue
        for side, text in (("total", sli.total), ("good", sli.good), ("bad", sli.bad)):
            if text is None:
                continue
            try:
                client.query(increase_query(text, 60.0), at=at)
                if is_selector(text) and not metric_exists(client, text, at - lookback_s, at):
                    problems.append(f"SLO {sli.slo}: {side} metric {metric_name(text)} "
                                    + _no_series(client, metric_name(text), at - lookback_s, at, lookback_s))
                    continue
                for label in unknown_labels(client, text, at - lookback_s, at):
                    problems.append(f"SLO {sli.slo}: {side} selector matches on label {label!r}, which "
                                    f"{metric_name(text)} never carries in the last {lookback_s:.0f}s (misspelt?)")
                problems += [f"SLO {sli.slo}: {side} selector {miss}"
                             for miss in label_value_misses(client, text, at - lookback_s, at)]
            except EvidenceError as err:
                problems.append(f"SLO {sli.slo}: {side} query failed: {err}")
    return problems


def client_counts(window: Mapping[str, float | int | None] | None) -> ClientCounts | None:
    if window is None:
        return None

    def optional(key: str) -> float | None:
        value = window.get(key)
        return None if value is None else float(value)

    return ClientCounts(int(window["requests"] or 0), int(window["failures"] or 0),
                        float(window["achieved_rps"] or 0.0), optional("requested_rps"),
                        optional("mean_response_s"), optional("mean_users"), optional("throughput_per_user"),
                        tuple(str(w) for w in window.get("workers_lost") or ()))  # type: ignore[union-attr]


def scraped_after(client: PromClient, plan: Plan, moment: float, now: float) -> bool | None:
    """Whether every target behind the SLIs has a sample newer than `moment` (the last scrape landed);
    None when there is nothing to watch (full expressions) and only a fixed wait can help."""
    window = Window("settle", moment - max(60.0, 5 * plan.scrape_interval_s), now)
    try:
        jobs = sorted({job for sli in plan.slis for job in series_jobs(client, sli.total, window)})
        if not jobs:
            return None
        pattern = "|".join(jobs)
        answer = client.query(f'min(timestamp(up{{job=~"{pattern}"}}))', at=now)
    except EvidenceError:
        return True
    return bool(answer.vector) and answer.vector[0].value >= moment
