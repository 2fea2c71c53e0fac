"""The alerts an experiment can refer to: the ones `alerting` generates and the ones of its rule files.

Generated alerts are named after their SLO: `<slo>-page`, `<slo>-ticket` and `<slo>-no-data`; this is
part of the file format, since `expect: alert` and `remediation: on_alert` refer to them by name.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

from harness.spec.models import ExpectAlert, ExpectRemediated, Experiment, InlineSLO
from harness.spec.source import Loc

GENERATED_KINDS = ("page", "ticket", "no-data")


def generated_alert(slo: str, kind: str) -> str:
    return f"{slo}-{kind}"


def alerting_slos(experiment: Experiment) -> tuple[str, ...]:
    """The SLOs that get generated alerts: `alerting.slos`, else every SLO of the hypothesis."""
    if experiment.alerting is None:
        return ()
    return experiment.alerting.slos or tuple(h.slo for h in experiment.hypothesis)


def generated_alerts(experiment: Experiment, slos: Sequence[InlineSLO]) -> dict[str, str]:
    """Each generated alert's name → its SLO (client SLIs get none: Prometheus never sees them)."""
    client = {slo.name for slo in slos if slo.sli.client is not None}
    return {generated_alert(slo, kind): slo for slo in alerting_slos(experiment) if slo not in client
            for kind in GENERATED_KINDS}


def rule_file_alerts(paths: Sequence[Path]) -> set[str]:
    """The alert names defined in Prometheus rule files (unreadable files are reported elsewhere)."""
    names: set[str] = set()
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        for group in (data or {}).get("groups", []) if isinstance(data, dict) else []:
            for rule in group.get("rules", []) if isinstance(group, dict) else []:
                if isinstance(rule, dict) and isinstance(rule.get("alert"), str):
                    names.add(rule["alert"])
    return names


Finding = tuple[Loc, str]


def check_alerting(experiment: Experiment, slos: Sequence[InlineSLO], alert_rules: Sequence[Path]) -> Iterator[Finding]:
    known = {slo.name: slo for slo in slos}
    for index, name in enumerate(experiment.alerting.slos or () if experiment.alerting else ()):
        if name not in known:
            yield ("alerting", "slos", index), f"no SLO named {name!r} (known SLOs: {', '.join(sorted(known))})"
        elif known[name].sli.client is not None:
            yield (("alerting", "slos", index),
                   f"SLO {name!r} is a client SLI, counted from the load generator: Prometheus cannot alert on it")
    alerting = experiment.alerting
    if alerting is not None and alerting.alertmanager is not None and experiment.target.platform == "local":
        yield (("alerting", "alertmanager"), "the local platform runs its own Alertmanager: leave this out (it "
               "is for the Alertmanager of a system on platform external)")
    generated = generated_alerts(experiment, slos)
    defined = set(generated) | rule_file_alerts(alert_rules)
    hint = ", ".join(sorted(defined)) or \
        "none: add an `alerting` block or name a rules file in target.local.alert_rules"
    remediated: set[str] = set()
    for index, item in enumerate(experiment.remediation):
        if item.on_alert not in defined:
            yield ("remediation", index, "on_alert"), f"no rule defines an alert {item.on_alert!r} (alerts: {hint})"
        if item.slo is not None and item.slo not in known:
            yield ("remediation", index, "slo"), f"no SLO named {item.slo!r}"
        slo = item.slo or generated.get(item.on_alert)
        if slo is not None:
            remediated.add(slo)
    for index, expectation in enumerate(experiment.expect):
        checkable = bool(defined) or experiment.alerting is not None
        if isinstance(expectation, ExpectAlert) and expectation.alert not in defined and checkable:
            yield ("expect", index, "alert"), f"no rule defines an alert {expectation.alert!r} (alerts: {hint})"
        if isinstance(expectation, ExpectRemediated) and expectation.remediated not in remediated:
            yield (("expect", index, "remediated"),
                   f"SLO {expectation.remediated!r} has no remediation: add a `remediation` entry whose on_alert is "
                   f"one of its alerts (e.g. {generated_alert(expectation.remediated, 'page')}), or give it `slo:`")
