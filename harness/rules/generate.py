"""Recording and alerting rules for SLOs, in the multiwindow, multi-burn-rate form (pure).

Names and labels follow Sloth's, so teams can put both side by side: `slo:sli_error:ratio_rate<w>`
with `sloth_id`, `sloth_service`, `sloth_slo`, `sloth_window`; alerts carry `sloth_severity`. The
alerts are named `<slo>-page`, `<slo>-ticket` and `<slo>-no-data` (Sloth takes one name from the
SLO file and tells page from ticket by label only; an experiment needs a name per alert to refer to).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from harness.rules.signals import Signals, signals_of
from harness.rules.windows import (
    EXPERIMENT_SCALE,
    BurnWindow,
    Severity,
    WindowsMode,
    burn_windows,
    evaluation_interval_s,
    window_text,
)
from harness.spec.alerting import generated_alert
from harness.spec.models import InlineSLO


@dataclass(frozen=True)
class SloRules:
    """Everything the rules of one SLO are built from."""

    slo: InlineSLO
    service: str
    mode: WindowsMode
    signals: Signals

    @property
    def id(self) -> str:
        return f"{self.service}-{self.slo.name}"

    @property
    def windows(self) -> tuple[BurnWindow, ...]:
        return burn_windows(self.slo.period, self.mode)

    @property
    def budget(self) -> Decimal:
        return (Decimal(100) - self.slo.objective) / Decimal(100)  # exact: 1 - 0.999 in floats is not 0.001

    @property
    def ids(self) -> dict[str, str]:
        return {"sloth_id": self.id, "sloth_service": self.service, "sloth_slo": self.slo.name}

    def alert_name(self, kind: Severity | str) -> str:
        return generated_alert(self.slo.name, kind)

    @property
    def no_data_after_s(self) -> int:
        """How long the SLI may be absent before the no-data alert fires: the shortest long window."""
        return min(w.long_s for w in self.windows)


def slo_rules(slos: Sequence[InlineSLO], service: str, mode: WindowsMode) -> tuple[list[SloRules], list[str]]:
    """The SLOs that get rules, and a note for each one that cannot (a client SLI)."""
    chosen, notes = [], []
    for slo in slos:
        signals = signals_of(slo)
        if signals is None:
            notes.append(f"{slo.name}: a client SLI is counted from the load generator, which Prometheus never "
                         "sees: no rules")
            continue
        chosen.append(SloRules(slo, service, mode, signals))
    return chosen, notes


def unreachable(rules: SloRules) -> list[str]:
    """Conditions no error ratio can meet (factor x budget ≥ 100 %): an alert that can never fire."""
    problems = []
    for window in rules.windows:
        needed = window.factor * rules.budget
        if needed >= 1:
            problems.append(f"{rules.slo.name}: the {window.severity} condition (burn rate {window.factor} over "
                            f"{window_text(window.long_s)}) needs an error ratio of {needed * 100:f}%, more than "
                            f"100%: it could never fire at an objective of {rules.slo.objective}%")
    return problems


def rule_file(all_rules: Sequence[SloRules]) -> dict[str, Any]:
    """The rule file (a dict ready for YAML) for these SLOs."""
    groups: list[dict[str, Any]] = []
    for rules in all_rules:
        groups.append(_group(f"harness-slo-sli-recordings-{rules.id}", rules.mode,
                             [*_recordings(rules), *_meta(rules)]))
        groups.append(_group(f"harness-slo-alerts-{rules.id}", rules.mode, _alerts(rules)))
    return {"groups": groups}


def _group(name: str, mode: WindowsMode, rules: list[dict[str, Any]]) -> dict[str, Any]:
    group: dict[str, Any] = {"name": name}
    if mode == "experiment":  # production groups keep the Prometheus's own evaluation interval
        group["interval"] = f"{evaluation_interval_s(mode)}s"
    group["rules"] = rules
    return group


def recorded_windows(rules: SloRules) -> list[int]:
    return sorted({s for w in rules.windows for s in (w.short_s, w.long_s)})


def _recordings(rules: SloRules) -> list[dict[str, Any]]:
    return [{"record": f"slo:sli_error:ratio_rate{window_text(s)}",
             "expr": rules.signals.error_ratio(window_text(s)),
             "labels": {**rules.ids, "sloth_window": window_text(s)}}
            for s in recorded_windows(rules)]


def _meta(rules: SloRules) -> list[dict[str, Any]]:
    objective = rules.slo.objective / 100
    return [
        {"record": "slo:objective:ratio", "expr": f"vector({objective.normalize():f})", "labels": rules.ids},
        {"record": "slo:error_budget:ratio", "expr": f"vector({rules.budget.normalize():f})", "labels": rules.ids},
        {"record": "slo:time_period:days", "expr": f"vector({rules.slo.period / 86400:g})", "labels": rules.ids},
    ]


def _alerts(rules: SloRules) -> list[dict[str, Any]]:
    alerts = [_burn_alert(rules, severity) for severity in ("page", "ticket")]
    shortest = window_text(min(w.short_s for w in rules.windows))
    selector = _selector(f"slo:sli_error:ratio_rate{shortest}", rules.ids)
    alerts.append({
        "alert": rules.alert_name("no-data"),
        "expr": f"absent({selector})",
        "for": window_text(rules.no_data_after_s),
        "labels": {"severity": "ticket", "sloth_severity": "ticket", "harness_windows": rules.mode},
        "annotations": {
            "summary": f"{rules.slo.name}: no SLI data for {window_text(rules.no_data_after_s)}",
            "description": "The SLI's counters are missing, so its burn-rate alerts cannot fire.",
        },
    })
    return alerts


def threshold(window: BurnWindow, budget: Decimal) -> str:
    return f"{(window.factor * budget).normalize():f}"


def _burn_alert(rules: SloRules, severity: Severity) -> dict[str, Any]:
    conditions = [w for w in rules.windows if w.severity == severity]
    parts = []
    for window in conditions:
        limit = threshold(window, rules.budget)
        sides = [f"max({_selector(f'slo:sli_error:ratio_rate{window_text(s)}', rules.ids)} > {limit}) "
                 "without (sloth_window)" for s in (window.short_s, window.long_s)]
        parts.append("(\n  " + "\n  and\n  ".join(sides) + "\n)")
    described = "; ".join(f"burn rate over {w.factor} for {window_text(w.long_s)} and {window_text(w.short_s)} "
                          f"(error ratio > {threshold(w, rules.budget)})" for w in conditions)
    return {
        "alert": rules.alert_name(severity),
        "expr": "\nor\n".join(parts),
        "labels": {"severity": severity, "sloth_severity": severity, "harness_windows": rules.mode},
        "annotations": {
            "summary": f"{rules.slo.name} is burning its error budget too fast ({severity})",
            "description": f"{rules.slo.name} ({rules.slo.objective}% over {rules.slo.period / 86400:g}d): "
                           f"{described}.",
            "windows": _windows_note(rules.mode),
        },
    }


def _windows_note(mode: WindowsMode) -> str:
    if mode == "production":
        return "production windows (Google SRE workbook)"
    return (f"experiment windows: the production windows divided by {EXPERIMENT_SCALE}, the same burn-rate "
            "factors; for proving the alert path in a short experiment, not for paging on it")


def _selector(name: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return f"{name}{{{inner}}}"
