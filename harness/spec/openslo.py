"""OpenSLO v1 files → inline SLOs.

A file holds one or more documents (`---`), each an object or a list of objects. Kinds SLO, SLI
and DataSource are read; AlertPolicy, AlertCondition, AlertNotificationTarget, Service and
BudgetAdjustment are accepted and ignored (they do not change what an SLO measures). An SLO gives
its SLI inline (`indicator`) or by name (`indicatorRef`, an SLI of the same file); a metric source
gives its type inline or through `metricSourceRef`, a DataSource of the same file.

Mapping (OpenSLO README, v1, and the reference Go SDK `pkg/openslo/v1`):
- name: the SLO's `metadata.name`. With several objectives, one SLO per objective named
  `<metadata.name>-<displayName>` (the display name in lowercase, other characters as '-'), or
  `<metadata.name>-<index>` (0-based, as in `objectives[1]`) when it has none. A name outside our
  rule (lowercase letters, digits, '-', at most 63) is reported, never changed silently.
- objective: `target` (a fraction in [0, 1)) times 100, or `targetPercent`, exact (Decimal).
- period: `timeWindow[0].duration`, OpenSLO's case-sensitive shorthand: m minutes, h, d, w, M a
  month = 30 days, Q a quarter = 90 days, Y a year = 365 days (the values of the reference SDK).
  Rolling and calendar windows alike map to their length: the harness judges the experiment's own
  window and uses the period only as the budget's denominator. Without `timeWindow`: 30d.
- budgetingMethod: Occurrences → our event-ratio SLI. Timeslices judges the share of good time
  slices and RatioTimeslices the average of per-slice ratios: neither equals the event ratio, and
  slices cut across our exact phase windows, so both are refused.
- ratioMetric `good` or `bad`, plus `total`, each a PromQL query of a Prometheus-compatible source
  (types Prometheus, Thanos, Mimir, Cortex, VictoriaMetrics; any case). With `counter: true` a query
  is a counter selector, or `sum(<selector>)`: the harness takes the selector and evaluates
  `sum(increase(<selector>[<window>]))`, increasing each series before summing so that a reset (a
  restarted pod) is not read as a drop. A query with `{{.window}}` is a windowed expression (see
  `imports.window_expression`) whatever `counter` says. `counter: false` (or absent) without
  `{{.window}}` is refused: OpenSLO leaves to each tool how gauge samples add up over a window,
  and the harness needs the number of events in the exact window.
- thresholdMetric, ratioMetric `raw`, composite objectives (an indicator per objective) and
  non-PromQL sources are refused. DataSource connection details are not used: the experiment's
  `prometheus` section says where to query.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from harness.spec.imports import Findings, Mapped, build_slo, counter_selector, has_window, slug, window_expression
from harness.spec.source import Loc

log = logging.getLogger(__name__)

API_VERSION = "openslo/v1"
IGNORED_KINDS = frozenset({"AlertPolicy", "AlertCondition", "AlertNotificationTarget", "Service",
                           "BudgetAdjustment"})
PROMQL_SOURCES = frozenset({"prometheus", "thanos", "mimir", "cortex", "victoriametrics"})
_OBJECT = frozenset({"apiVersion", "kind", "metadata", "spec"})
_SLO_SPEC = frozenset({"description", "service", "indicator", "indicatorRef", "timeWindow", "budgetingMethod",
                       "objectives", "alertPolicies"})
_INDICATOR = frozenset({"metadata", "spec"})
_SLI_SPEC = frozenset({"description", "thresholdMetric", "ratioMetric"})
_RATIO = frozenset({"counter", "good", "bad", "total", "rawType", "raw"})
_SOURCE = frozenset({"metricSourceRef", "type", "spec"})
_WINDOW = frozenset({"duration", "isRolling", "calendar"})
_OBJECTIVE = frozenset({"displayName", "op", "value", "target", "targetPercent", "timeSliceTarget",
                        "timeSliceWindow", "indicator", "indicatorRef", "compositeWeight"})
_DURATION = re.compile(r"(\d+)([mhdwMQY])")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "M": 30 * 86400, "Q": 90 * 86400,
                 "Y": 365 * 86400}
DEFAULT_PERIOD_S = 30 * 86400
THRESHOLD_REFUSAL = ("a thresholdMetric SLI compares one metric's value with objectives[].value, which is "
                     "not a ratio of good to total events; the harness judges event ratios: use ratioMetric")
RAW_REFUSAL = ("a raw (precomputed) ratio has no event counts, so no confidence bound or budget can be "
               "computed; give good or bad plus total instead")
TIMESLICE_REFUSAL = ("{method} judges time slices (each slice good or bad by its own ratio), not events, so "
                     "its verdict differs from the event ratio the harness judges over each exact phase "
                     "window; use budgetingMethod: Occurrences")


@dataclass(frozen=True)
class Obj:
    """An OpenSLO object and where it sits in the file."""

    kind: str
    name: str
    data: dict[str, Any]
    found: Findings


def openslo_slos(objects: list[tuple[Any, Findings]]) -> list[Mapped]:
    """Every SLO among the OpenSLO objects of one file (SLIs and DataSources resolved within it)."""
    read = [obj for obj in (_object(value, found) for value, found in objects) if obj is not None]
    slis = _by_name(read, "SLI")
    sources = _by_name(read, "DataSource")
    mapped: list[Mapped] = []
    for obj in read:
        if obj.kind == "SLO":
            mapped.extend(_slo(obj, slis, sources))
        elif obj.kind in IGNORED_KINDS:
            log.debug("%s: OpenSLO %s %r ignored", obj.found.doc.path, obj.kind, obj.name)
    return mapped


def _object(value: Any, found: Findings) -> Obj | None:
    data = found.mapping(value, ())
    if data is None:
        return None
    found.unknown(data, _OBJECT, (), "an OpenSLO object")
    api, kind = data.get("apiVersion"), data.get("kind")
    if api != API_VERSION:
        found.add(("apiVersion",), f"only {API_VERSION} is supported, got {api!r}")
        return None
    if kind not in {"SLO", "SLI", "DataSource"} | IGNORED_KINDS:
        found.add(("kind",), f"unknown OpenSLO kind {kind!r}")
        return None
    metadata = found.mapping(data.get("metadata"), ("metadata",))
    name = found.text(metadata, "name", ("metadata",)) if metadata is not None else None
    return Obj(str(kind), name, data, found) if name is not None else None


def _by_name(objects: list[Obj], kind: str) -> dict[str, Obj]:
    named: dict[str, Obj] = {}
    for obj in objects:
        if obj.kind != kind:
            continue
        if obj.name in named:
            obj.found.add(("metadata", "name"), f"a second {kind} named {obj.name!r} in this file")
        named.setdefault(obj.name, obj)
    return named


def _slo(obj: Obj, slis: dict[str, Obj], sources: dict[str, Obj]) -> list[Mapped]:
    found = obj.found
    spec = found.mapping(obj.data.get("spec"), ("spec",))
    if spec is None:
        return []
    found.unknown(spec, _SLO_SPEC, ("spec",), "an OpenSLO SLO spec")
    budgeting = _budgeting(spec, found)
    period = _period(spec, found)
    objectives = _objectives(spec, obj)
    ratio = None if objectives is None else _indicator(spec, found, slis, sources)
    description = found.text(spec, "description", ("spec",), required=False) or ""
    if not budgeting or period is None or not objectives or ratio is None:
        return []
    indicator: Loc = ("spec", "indicator") if "indicator" in spec else ("spec", "indicatorRef")
    mapped = []
    for name, name_loc, percent, target_loc in objectives:
        origins = {"": ("spec",), "name": name_loc, "objective": target_loc, "period": ("spec", "timeWindow"),
                   "description": ("spec", "description"), "sli": indicator}
        fields = {"name": name, "objective": percent, "period": f"{period}s", "description": description,
                  "sli": {"ratio": ratio}}
        built = build_slo(found, fields, origins, "the OpenSLO SLO name")
        if built is not None:
            mapped.append(Mapped(built, found, name_loc, f"OpenSLO SLO {obj.name!r}"))
    return mapped


def _budgeting(spec: dict[str, Any], found: Findings) -> bool:
    loc = ("spec", "budgetingMethod")
    method = spec.get("budgetingMethod")
    if method == "Occurrences":
        return True
    if method in ("Timeslices", "RatioTimeslices"):
        found.add(loc, TIMESLICE_REFUSAL.format(method=method))
    elif method is None:
        found.add(loc, "required field is missing (Occurrences: the share of good events)")
    else:
        found.add(loc, f"expected Occurrences, Timeslices or RatioTimeslices, got {method!r}")
    return False


def _period(spec: dict[str, Any], found: Findings) -> int | None:
    windows = spec.get("timeWindow")
    loc = ("spec", "timeWindow")
    if windows is None:
        return DEFAULT_PERIOD_S
    if not isinstance(windows, list) or len(windows) != 1:
        found.add(loc, "expected a list of exactly one time window, like [{duration: 30d, isRolling: true}]")
        return None
    window = found.mapping(windows[0], (*loc, 0))
    if window is None:
        return None
    found.unknown(window, _WINDOW, (*loc, 0), "an OpenSLO time window")
    if not isinstance(window.get("isRolling", False), bool):
        found.add((*loc, 0, "isRolling"), f"expected true or false, got {window['isRolling']!r}")
    duration = found.text(window, "duration", (*loc, 0))
    if duration is None:
        return None
    try:
        return parse_openslo_duration(duration)
    except ValueError as err:
        found.add((*loc, 0, "duration"), str(err))
        return None


def parse_openslo_duration(text: str) -> int:
    """OpenSLO's duration shorthand (`4w`, `1M`, `1Q`) → seconds; `m` is minutes, `M` months (30 days)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) <= 0:
        raise ValueError("expected a positive whole number with a unit: m (minutes), h, d, w, M (months), Q "
                         f"(quarters) or Y (years), like 30d or 1M; got {text!r} (units are case-sensitive)")
    if match.group(2) == "m":
        log.warning("OpenSLO duration %s is %s minute(s): m means minutes in OpenSLO, months are M", text,
                    match.group(1))
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


Objective = tuple[str, Loc, str, Loc]
"""(SLO name, where the name comes from, objective percent text, where the target is)."""


def _objectives(spec: dict[str, Any], obj: Obj) -> list[Objective] | None:
    """One (name, percent) per objective; None for a composite SLO, which is refused."""
    found, loc = obj.found, ("spec", "objectives")
    items = spec.get("objectives")
    if not isinstance(items, list) or not items:
        found.add(loc, "list at least one objective with a target")
        return []
    result: list[Objective] = []
    for index, item in enumerate(items):
        here: Loc = (*loc, index)
        objective = found.mapping(item, here)
        if objective is None:
            continue
        found.unknown(objective, _OBJECTIVE, here, "an OpenSLO objective")
        composite = [key for key in ("indicator", "indicatorRef", "compositeWeight") if key in objective]
        if composite:
            found.add((*here, composite[0]), "composite SLOs (an indicator per objective) are not supported: "
                      "write each part as its own SLO")
            return None
        target = _target(objective, here, found)
        display = objective.get("displayName")
        suffix = slug(display) if isinstance(display, str) else ""
        name = obj.name if len(items) == 1 else f"{obj.name}-{suffix or index}"
        name_loc: Loc = ("metadata", "name") if len(items) == 1 or not suffix else (*here, "displayName")
        if target is not None:
            result.append((name, name_loc, *target))
    return result


def _target(objective: dict[str, Any], here: Loc, found: Findings) -> tuple[str, Loc] | None:
    has_target, has_percent = objective.get("target") is not None, objective.get("targetPercent") is not None
    if has_target == has_percent:
        found.add(here, "give exactly one of target (a fraction like 0.995) or targetPercent (like 99.5)")
        return None
    key = "target" if has_target else "targetPercent"
    number = _decimal(objective[key])
    if number is None:
        found.add((*here, key), f"expected a number, got {objective[key]!r}")
        return None
    if key == "target":
        if not Decimal(0) <= number < Decimal(1):
            percent_like = Decimal(1) <= number < Decimal(100)
            hint = f" (did you mean targetPercent: {objective[key]}?)" if percent_like else ""
            found.add((*here, key), f"target is a fraction in [0, 1), got {objective[key]}{hint}")
            return None
        number *= 100
    return format(number.normalize(), "f"), (*here, key)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _indicator(spec: dict[str, Any], found: Findings, slis: dict[str, Obj],
               sources: dict[str, Obj]) -> dict[str, str] | None:
    inline, ref = spec.get("indicator"), spec.get("indicatorRef")
    if (inline is None) == (ref is None):
        found.add(("spec",), "give exactly one of indicator (an inline SLI) or indicatorRef (an SLI of this "
                  "file)")
        return None
    if inline is not None:
        indicator = found.mapping(inline, ("spec", "indicator"))
        if indicator is None:
            return None
        found.unknown(indicator, _INDICATOR, ("spec", "indicator"), "an inline OpenSLO indicator")
        return _sli(indicator.get("spec"), ("spec", "indicator", "spec"), found, sources)
    sli = slis.get(ref) if isinstance(ref, str) else None
    if sli is None:
        known = ", ".join(sorted(slis)) or "none"
        found.add(("spec", "indicatorRef"), f"no SLI named {ref!r} in this file (SLIs here: {known}); "
                  "an imported file must hold the SLIs its SLOs refer to")
        return None
    return _sli(sli.data.get("spec"), ("spec",), sli.found, sources)


def _sli(value: Any, loc: Loc, found: Findings, sources: dict[str, Obj]) -> dict[str, str] | None:
    spec = found.mapping(value, loc)
    if spec is None:
        return None
    found.unknown(spec, _SLI_SPEC, loc, "an OpenSLO SLI spec")
    if "thresholdMetric" in spec:
        found.add((*loc, "thresholdMetric"), THRESHOLD_REFUSAL)
        return None
    here: Loc = (*loc, "ratioMetric")
    ratio = found.mapping(spec.get("ratioMetric"), here)
    if ratio is None:
        return None
    found.unknown(ratio, _RATIO, here, "an OpenSLO ratioMetric")
    if "raw" in ratio or "rawType" in ratio:
        found.add((*here, "raw" if "raw" in ratio else "rawType"), RAW_REFUSAL)
        return None
    counter = ratio.get("counter", False)
    if not isinstance(counter, bool):
        found.add((*here, "counter"), f"expected true or false, got {counter!r}")
        return None
    sides = [side for side in ("good", "bad") if side in ratio]
    if len(sides) != 1:
        found.add(here, "give exactly one of good or bad, beside total")
        return None
    queries = {side: _query(ratio.get(side), (*here, side), counter, found, sources)
               for side in (sides[0], "total")}
    if any(query is None for query in queries.values()):
        return None
    return {side: str(query) for side, query in queries.items()}


def _query(value: Any, loc: Loc, counter: bool, found: Findings, sources: dict[str, Obj]) -> str | None:
    holder = found.mapping(value, loc)
    if holder is None:
        return None
    found.unknown(holder, {"metricSource"}, loc, "an OpenSLO metric")
    here: Loc = (*loc, "metricSource")
    source = found.mapping(holder.get("metricSource"), here)
    if source is None:
        return None
    found.unknown(source, _SOURCE, here, "an OpenSLO metricSource")
    spec = found.mapping(source.get("spec"), (*here, "spec"))
    query = found.text(spec, "query", (*here, "spec")) if spec is not None else None
    if not _is_promql(source, here, found, sources) or query is None:
        return None
    try:
        if has_window(query):
            return window_expression(query)
        if counter:
            return counter_selector(query)
    except ValueError as err:
        found.add((*here, "spec", "query"), str(err))
        return None
    found.add((*here, "spec", "query"), "with counter: false (or no counter) the query reads a gauge, and "
              "how its samples add up over a window is left to each tool; the harness needs the events of "
              "the exact window: set counter: true for counter selectors, or give the range as "
              "[{{.window}}] (e.g. sum(increase(x_total[{{.window}}])))")
    return None


def _is_promql(source: dict[str, Any], here: Loc, found: Findings, sources: dict[str, Obj]) -> bool:
    kind, ref = source.get("type"), source.get("metricSourceRef")
    loc: Loc = (*here, "type")
    if ref is not None:
        data_source = sources.get(ref) if isinstance(ref, str) else None
        ds_spec = data_source.data.get("spec") if data_source is not None else None
        ds_type = ds_spec.get("type") if isinstance(ds_spec, dict) else None
        if kind is not None and ds_type is not None and kind != ds_type:
            found.add(loc, f"type {kind!r} differs from the type {ds_type!r} of DataSource {ref!r}")
            return False
        if kind is None and ds_type is None:
            found.add((*here, "metricSourceRef"), f"no DataSource {ref!r} with a type in this file: add "
                      "type: Prometheus here or the DataSource to the file")
            return False
        if kind is None:
            kind, loc = ds_type, (*here, "metricSourceRef")
    if kind is None:
        found.add(here, "required field is missing: type (e.g. Prometheus) or metricSourceRef (a DataSource)")
        return False
    if not isinstance(kind, str) or kind.lower() not in PROMQL_SOURCES:
        found.add(loc, f"metric source type {kind!r} is not supported: the harness queries PromQL backends "
                  "(Prometheus, Thanos, Mimir, Cortex, VictoriaMetrics)")
        return False
    return True
