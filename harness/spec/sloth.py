"""Sloth `prometheus/v1` SLO files → inline SLOs.

The mapping follows Sloth's own loader (slok/sloth `internal/prometheus/spec.go` and `model.go`):
- name: the SLO's `name`, as written. Sloth accepts `[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]` and
  tells SLOs apart by its ID `<service>-<name>`; an experiment refers to an imported SLO by the
  plain `name`, which must follow our rule (lowercase letters, digits, '-', at most 63). A name
  outside it is reported with a suggestion and never changed silently: a changed name would no
  longer match the hypothesis that refers to it. Two SLOs of one file with the same name (Sloth
  allows it across services) are reported too.
- objective: the percent, as written (exact, from the YAML number's text).
- period: not in the file; Sloth's default SLO period, 30d (also ours). Sloth's
  `--default-slo-period` flag lives outside the file and is not seen here.
- description: the SLO's `description`.
- sli.events → `RatioSLI(bad=error_query, total=total_query)`, each query made into event counts
  over the window (see `imports.window_expression`). Like Sloth, each query must use `{{.window}}`
  and the two must differ.
- sli.raw (`error_ratio_query`) is refused: a ratio has no event counts, so neither the confidence
  bound nor the minimum-events rule can be applied, and averaging ratios is not the event ratio.
- sli.plugin is refused: a plugin is Go code that Sloth runs to produce a raw ratio query.
- labels, alerting, infoLabels, interval and SLO plugins (`slo_plugins`, `plugins`) shape the rules
  and alerts Sloth generates; Sloth never adds labels to the SLI queries, so they do not change the
  SLI and are ignored. Unknown fields are errors, as in our own files (typos must not pass).
"""

from __future__ import annotations

import logging
from typing import Any

from harness.spec.imports import Findings, Mapped, build_slo, window_expression
from harness.spec.source import Loc

log = logging.getLogger(__name__)

SLOTH_VERSION = "prometheus/v1"
_TOP = frozenset({"version", "service", "labels", "slos", "slo_plugins"})
_SLO = frozenset({"name", "description", "objective", "labels", "infoLabels", "sli", "alerting", "interval",
                  "plugins"})
_SLI = frozenset({"events", "raw", "plugin"})
_EVENTS = frozenset({"error_query", "total_query"})
RAW_REFUSAL = ("a raw error-ratio SLI has no event counts, so no confidence bound or budget can be computed; "
               "rewrite it as events (error_query and total_query)")
PLUGIN_REFUSAL = ("an SLI plugin is code that Sloth runs to build a raw error-ratio query, which has no "
                  "event counts; rewrite it as events (error_query and total_query)")


def sloth_slos(data: dict[str, Any], found: Findings) -> list[Mapped]:
    """Every SLO of one Sloth `prometheus/v1` document."""
    found.unknown(data, _TOP, (), "a Sloth prometheus/v1 file")
    service = data.get("service")
    slos = data.get("slos")
    if not isinstance(slos, list) or not slos:
        found.add(("slos",), "list at least one SLO")
        return []
    if data.get("slo_plugins"):
        log.info("%s: Sloth SLO plugins are not run; SLIs are judged from their queries", found.doc.path)
    mapped = []
    for index, item in enumerate(slos):
        one = _slo(item, ("slos", index), service, found)
        if one is not None:
            mapped.append(one)
    return mapped


def _slo(item: Any, loc: Loc, service: Any, found: Findings) -> Mapped | None:
    slo = found.mapping(item, loc)
    if slo is None:
        return None
    found.unknown(slo, _SLO, loc, "a Sloth SLO")
    name = found.text(slo, "name", loc)
    objective = _objective(slo, loc, found)
    description = found.text(slo, "description", loc, required=False) or ""
    ratio = _events(slo.get("sli"), (*loc, "sli"), found)
    if name is None or objective is None or ratio is None:
        return None
    events: Loc = (*loc, "sli", "events")
    origins = {"": loc, "name": (*loc, "name"), "objective": (*loc, "objective"),
               "description": (*loc, "description"), "sli": events,
               "sli.ratio.bad": (*events, "error_query"), "sli.ratio.total": (*events, "total_query")}
    fields = {"name": name, "objective": objective, "description": description, "sli": {"ratio": ratio}}
    built = build_slo(found, fields, origins, "the Sloth SLO name")
    if built is None:
        return None
    return Mapped(built, found, (*loc, "name"), f"the SLO of Sloth service {service!r}")


def _objective(slo: dict[str, Any], loc: Loc, found: Findings) -> float | int | None:
    value = slo.get("objective")
    if value is None:
        found.add((*loc, "objective"), "required field is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        found.add((*loc, "objective"), f"expected a number (a percent like 99.9), got {value!r}")
        return None
    return value


def _events(value: Any, loc: Loc, found: Findings) -> dict[str, str] | None:
    sli = found.mapping(value, loc)
    if sli is None:
        return None
    found.unknown(sli, _SLI, loc, "a Sloth SLI")
    kinds = [kind for kind in ("events", "raw", "plugin") if sli.get(kind) is not None]
    if len(kinds) != 1:
        found.add(loc, f"give exactly one of events, raw or plugin, got {', '.join(kinds) or 'none'}")
        return None
    if kinds == ["raw"]:
        found.add((*loc, "raw"), RAW_REFUSAL)
        return None
    if kinds == ["plugin"]:
        plugin = sli["plugin"]
        named = f" ({plugin['id']!r})" if isinstance(plugin, dict) and "id" in plugin else ""
        found.add((*loc, "plugin"), f"{PLUGIN_REFUSAL}{named}")
        return None
    events = found.mapping(sli["events"], (*loc, "events"))
    if events is None:
        return None
    found.unknown(events, _EVENTS, (*loc, "events"), "Sloth events")
    queries = {key: found.text(events, key, (*loc, "events")) for key in ("error_query", "total_query")}
    if queries["error_query"] is not None and queries["error_query"] == queries["total_query"]:
        found.add((*loc, "events", "total_query"), "error_query and total_query are the same query")
        return None
    ratio: dict[str, str] = {}
    for key, field in (("error_query", "bad"), ("total_query", "total")):
        query = queries[key]
        if query is None:
            continue
        try:
            ratio[field] = window_expression(query)
        except ValueError as err:
            found.add((*loc, "events", key), str(err))
    return ratio if len(ratio) == 2 else None
