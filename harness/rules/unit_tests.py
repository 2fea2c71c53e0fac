"""`promtool test rules` unit tests for generated rules (pure): per SLO, a total breach fires the page
and the ticket, a healthy series fires nothing, and no data fires the no-data alert.

The input series are built from the SLI's own selectors (see `synthetic`), so the tests exercise the
generated expressions on series the SLI really counts. An SLI written as a full expression has no
series to build: its tests are left out and a note says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.rules.generate import SloRules, rule_file
from harness.rules.selectors import matches, parse_selector, series_text
from harness.rules.synthetic import find_labels
from harness.rules.windows import evaluation_interval_s, window_text


@dataclass(frozen=True)
class TestSeries:
    """The series the SLI counts as bad (or good), and one it counts only in its total."""

    events: dict[str, str]
    other: dict[str, str]
    events_in_total: bool


def test_series(rules: SloRules) -> TestSeries | str:
    """Input series for this SLO's tests, or why none can be built."""
    selectors = rules.signals.selectors
    if selectors is None:
        return f"{rules.slo.name}: the SLI is a PromQL expression, not selectors: no generated test series"
    events_sel, total_sel = (parse_selector(s) for s in selectors)
    if events_sel is None or total_sel is None:
        return f"{rules.slo.name}: cannot read the SLI's selectors: no generated test series"
    events = find_labels([events_sel, total_sel]) or find_labels([events_sel])
    other = find_labels([total_sel], [events_sel])
    if events is None or other is None:
        return (f"{rules.slo.name}: found no label values that the SLI counts as intended "
                "(its selectors are too intricate): no generated test series")
    return TestSeries(events, other, matches(total_sel, events))


def test_file(rule_file_name: str, all_rules: Sequence[SloRules]) -> tuple[dict[str, Any], list[str]]:
    """The promtool test document for `rule_file_name` (written beside it), and notes on SLOs left out."""
    tests: list[dict[str, Any]] = []
    notes: list[str] = []
    for rules in all_rules:
        series = test_series(rules)
        if isinstance(series, str):
            notes.append(series)
            continue
        tests.extend(_cases(rules, series))
    interval = evaluation_interval_s(all_rules[0].mode) if all_rules else 60
    return {"rule_files": [rule_file_name], "evaluation_interval": f"{interval}s", "tests": tests}, notes


def _expected(rules: SloRules) -> dict[str, dict[str, Any]]:
    """Each generated alert's labels and annotations as promtool will see them firing."""
    found = {}
    for group in rule_file([rules])["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                found[rule["alert"]] = {"exp_labels": {**rules.ids, **rule["labels"]},
                                        "exp_annotations": rule["annotations"]}
    return found


def _cases(rules: SloRules, series: TestSeries) -> list[dict[str, Any]]:
    interval = evaluation_interval_s(rules.mode)
    step = f"{interval}s"
    # one event per second in the series that moves; the other stays flat where it would dilute the ratio
    rising, flat = f"0+{interval}x{{n}}", "0+0x{n}"
    expected = _expected(rules)
    page, ticket, no_data = (rules.alert_name(k) for k in ("page", "ticket", "no-data"))
    breach_at = 2 * min(w.short_s for w in rules.windows)
    no_data_at = rules.no_data_after_s + 2 * interval

    def inputs(events_rise: bool, other_rise: bool, until: int) -> list[dict[str, str]]:
        n = until // interval + 5
        return [{"series": series_text(series.events), "values": (rising if events_rise else flat).format(n=n)},
                {"series": series_text(series.other), "values": (rising if other_rise else flat).format(n=n)}]

    bad = rules.signals.counts == "bad"
    breach = inputs(events_rise=bad, other_rise=not bad or not series.events_in_total, until=breach_at)
    healthy = inputs(events_rise=not bad, other_rise=bad or not series.events_in_total, until=no_data_at)
    at = window_text
    return [_detect_case(rules, series),
        {"name": f"{rules.slo.name}: a total breach fires the page and the ticket", "interval": step,
         "input_series": breach,
         "alert_rule_test": [
             {"eval_time": at(breach_at), "alertname": page, "exp_alerts": [expected[page]]},
             {"eval_time": at(breach_at), "alertname": ticket, "exp_alerts": [expected[ticket]]},
             {"eval_time": at(breach_at), "alertname": no_data, "exp_alerts": []}]},
        {"name": f"{rules.slo.name}: a healthy SLI fires nothing", "interval": step, "input_series": healthy,
         "alert_rule_test": [{"eval_time": at(t), "alertname": name, "exp_alerts": []}
                             for t in (breach_at, no_data_at) for name in (page, ticket, no_data)]},
        {"name": f"{rules.slo.name}: no data fires the no-data alert", "interval": step,
         "input_series": [{"series": 'up{job="unrelated"}', "values": f"1x{no_data_at // interval + 5}"}],
         "alert_rule_test": [
             {"eval_time": at(no_data_at), "alertname": no_data, "exp_alerts": [expected[no_data]]},
             {"eval_time": at(no_data_at), "alertname": page, "exp_alerts": []}]},
    ]


def predicted_detect_s(rules: SloRules) -> float:
    """Time to detect a total outage that follows a healthy period: the fast page's long-window ratio
    grows as t / long window, so it crosses factor x budget after factor x budget x long window."""
    fast = rules.windows[0]
    return float(fast.factor * rules.budget) * fast.long_s


def _values(parts: Sequence[tuple[bool, int]], interval: int) -> str:
    """A counter over consecutive stretches of samples, each rising one event per second or flat."""
    texts, value = [], 0
    for rising, samples in parts:
        step = interval if rising else 0
        first = value + step
        texts.append(f"{first}+{step}x{samples - 1}")
        value = first + step * (samples - 1)
    return "0 " + " ".join(texts)


def _detect_case(rules: SloRules, series: TestSeries) -> dict[str, Any]:
    """A healthy stretch as long as the slow page's long window, then a total outage: no page at half
    the predicted time to detect, the page at one and a half times it."""
    interval = evaluation_interval_s(rules.mode)
    healthy = rules.windows[1].long_s // interval
    detect = predicted_detect_s(rules)
    before = int(0.5 * detect) // interval
    # +1: the alert group may run before the recording group at the same step, seeing the step before
    after = max(before + 1, -(-int(1.5 * detect) // interval)) + 1
    outage = after + 5
    bad = rules.signals.counts == "bad"
    events = [(not bad, healthy), (bad, outage)]
    other = [(True, healthy), (True, outage)] if not series.events_in_total else \
        [(bad, healthy), (not bad, outage)]
    page = rules.alert_name("page")
    start = healthy * interval
    return {
        "name": (f"{rules.slo.name}: a total outage after a healthy {window_text(start)} pages after about "
                 f"{detect:g}s, the predicted time to detect"),
        "interval": f"{interval}s",
        "input_series": [{"series": series_text(series.events), "values": _values(events, interval)},
                         {"series": series_text(series.other), "values": _values(other, interval)}],
        "alert_rule_test": [
            # a detection faster than one sample cannot be checked from below at this step
            *([{"eval_time": f"{start + before * interval}s", "alertname": page, "exp_alerts": []}] if before else []),
            {"eval_time": f"{start + after * interval}s", "alertname": page,
             "exp_alerts": [_expected(rules)[page]]}],
    }
