"""The burn-rate maths and the rule text, without promtool (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.rules.files import rule_set
from harness.rules.generate import rule_file
from harness.rules.selectors import parse_selector
from harness.rules.synthetic import find_labels
from harness.rules.unit_tests import predicted_detect_s
from harness.rules.windows import burn_windows, window_text
from harness.spec.models import InlineSLO

DAY = 86400.0


def _slo(objective: str, period: str = "30d", **sli: object) -> InlineSLO:
    chosen = sli or {"ratio": {"bad": 'http_requests_total{code=~"5.."}', "total": "http_requests_total"}}
    return InlineSLO.model_validate({"name": "checkout", "objective": objective, "period": period, "sli": chosen})


@pytest.mark.parametrize(("period_days", "factors"), [
    pytest.param(30, ["14.4", "6", "3", "1"], id="30d_workbook"),
    pytest.param(28, ["13.44", "5.6", "2.8", "0.9333"], id="28d_scaled"),
])
def test_factors_follow_the_share_of_budget(period_days: int, factors: list[str]) -> None:
    windows = burn_windows(period_days * DAY, "production")
    assert [str(w.factor) for w in windows] == factors
    assert [(window_text(w.long_s), window_text(w.short_s)) for w in windows] == [
        ("1h", "5m"), ("6h", "30m"), ("1d", "2h"), ("3d", "6h")]


def test_experiment_windows_are_production_windows_over_60_with_the_same_factors() -> None:
    production, experiment = burn_windows(30 * DAY, "production"), burn_windows(30 * DAY, "experiment")
    assert [(window_text(w.long_s), window_text(w.short_s)) for w in experiment] == [
        ("1m", "5s"), ("6m", "30s"), ("24m", "2m"), ("72m", "6m")]
    assert [w.factor for w in experiment] == [w.factor for w in production]


def test_thresholds_are_exact_decimals() -> None:
    rules = rule_set("x.yaml", "shop", [_slo("99.9")], "production").rules[0]
    page = next(r for g in rule_file([rules])["groups"] for r in g["rules"] if r.get("alert") == "checkout-page")
    assert "> 0.0144)" in page["expr"] and "> 0.006)" in page["expr"]
    assert "0.0144000000" not in page["expr"]


def test_predicted_time_to_detect_matches_the_notes() -> None:
    """slo-evidence.md: a 100 % outage at 99.9 % trips the 14.4 alert after about 52 s of the 1 h window."""
    rules = rule_set("x.yaml", "shop", [_slo("99.9")], "production").rules[0]
    assert predicted_detect_s(rules) == pytest.approx(51.84)
    fast = rule_set("x.yaml", "shop", [_slo("99")], "experiment").rules[0]
    assert predicted_detect_s(fast) == pytest.approx(8.64)


def test_an_alert_that_could_never_fire_is_a_problem() -> None:
    loose = rule_set("x.yaml", "shop", [_slo("90")], "production")
    assert loose.problems[0].startswith("checkout: the page condition (burn rate 14.4 over 1h) needs an error "
                                        "ratio of 144")
    assert rule_set("x.yaml", "shop", [_slo("99")], "production").problems == ()


def test_a_client_sli_gets_no_rules_and_a_note() -> None:
    made = rule_set("x.yaml", "shop", [_slo("99", client={})], "production")
    assert made.rules == ()
    assert "client SLI" in made.notes[0]


def test_latency_rules_match_both_spellings_of_a_whole_bound() -> None:
    slo = _slo("95", latency={"histogram": "http_request_duration_seconds", "threshold": "1s"})
    rules = rule_set("x.yaml", "shop", [slo], "production").rules[0]
    assert 'le=~"1|1\\\\.0"' in rules.signals.error_ratio("5m")


@pytest.mark.parametrize(("must", "must_not", "wanted"), [
    pytest.param(['x_total{code=~"5.."}', "x_total"], [], {"__name__": "x_total", "code": "500"}, id="regex_in_total"),
    pytest.param(["x_total"], ['x_total{code=~"5.."}'], {"__name__": "x_total"}, id="total_not_bad"),
    pytest.param(['x_total{route="/a",code!~"5..|429"}'], [], {"__name__": "x_total", "route": "/a"},
                 id="negative_regex"),
    pytest.param(['{__name__=~"a_total|b_total",code=~"(5..|429)"}'], [], {"__name__": "a_total", "code": "500"},
                 id="name_regex"),
    pytest.param(['x_total{code="5"}'], ['x_total{code=~"."}'], None, id="impossible"),
])
def test_synthetic_labels(must: list[str], must_not: list[str], wanted: dict[str, str] | None) -> None:
    def parsed(texts: list[str]) -> list[tuple[object, ...]]:
        return [parse_selector(t) or () for t in texts]
    assert find_labels(parsed(must), parsed(must_not)) == wanted  # type: ignore[arg-type]


def test_rule_sets_keep_the_experiments_choice_of_slos() -> None:
    made = rule_set(str(Path("x.yaml")), "shop", [_slo("99"), _slo("95").model_copy(update={"name": "other"})],
                    "experiment", only=["other"])
    assert [r.slo.name for r in made.rules] == ["other"]
