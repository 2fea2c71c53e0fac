"""Durations, percentages and SLO objectives as the file format writes them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from harness.spec.models import InlineSLO
from harness.spec.units import format_duration, format_percent, parse_duration, parse_percent

DURATIONS = [
    pytest.param("90s", 90.0, id="seconds"),
    pytest.param("1.5m", 90.0, id="decimal_minutes"),
    pytest.param("200ms", 0.2, id="milliseconds"),
    pytest.param("2h", 7200.0, id="hours"),
    pytest.param("30d", 2_592_000.0, id="days"),
    pytest.param("1w", 604_800.0, id="week"),
    pytest.param("0s", 0.0, id="zero"),
    pytest.param(" 5s ", 5.0, id="surrounding_spaces"),
]


@pytest.mark.parametrize(("text", "seconds"), DURATIONS)
def test_duration_is_read_in_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


ADD_A_UNIT = "expected a duration with a unit, got {}: add a unit: {n}s, {n}m or {n}ms"
NOT_A_DURATION = "expected a duration like 200ms, 30s or 5m, got {}"

BAD_DURATIONS = [
    pytest.param(60, ADD_A_UNIT.format("60", n="60"), id="bare_int"),
    pytest.param(1.5, ADD_A_UNIT.format("1.5", n="1.5"), id="bare_float"),
    pytest.param("60", ADD_A_UNIT.format("'60'", n="60"), id="quoted_bare_number"),
    pytest.param("fast", NOT_A_DURATION.format("'fast'"), id="word"),
    pytest.param("5 minutes", NOT_A_DURATION.format("'5 minutes'"), id="unit_spelt_out"),
    pytest.param("1.5M", NOT_A_DURATION.format("'1.5M'"), id="capital_unit"),
    pytest.param("-5s", NOT_A_DURATION.format("'-5s'"), id="negative"),
    pytest.param("1e3s", NOT_A_DURATION.format("'1e3s'"), id="exponent"),
    pytest.param("", NOT_A_DURATION.format("''"), id="empty"),
    pytest.param(True, NOT_A_DURATION.format("bool"), id="boolean"),
    pytest.param(None, NOT_A_DURATION.format("NoneType"), id="null"),
    pytest.param(["5s"], NOT_A_DURATION.format("list"), id="list"),
]


@pytest.mark.parametrize(("value", "message"), BAD_DURATIONS)
def test_bad_duration_is_refused_with_a_hint(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0.0, "0s", id="zero"),
        pytest.param(90.0, "90s", id="seconds"),
        pytest.param(120.0, "2m", id="minutes"),
        pytest.param(0.25, "250ms", id="milliseconds"),
        pytest.param(1.5, "1.5s", id="fractional_seconds"),
        pytest.param(2_592_000.0, "30d", id="days"),
        pytest.param(604_800.0, "1w", id="week"),
    ],
)
def test_duration_is_printed_in_its_shortest_spelling(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


PERCENTS = [
    pytest.param("2%", Decimal("2"), id="with_sign"),
    pytest.param("0.5%", Decimal("0.5"), id="decimal_with_sign"),
    pytest.param(99.5, Decimal("99.5"), id="plain_float"),
    pytest.param(99.9, Decimal("99.9"), id="float_stays_exact"),
    pytest.param(5, Decimal("5"), id="plain_int"),
    pytest.param("100%", Decimal("100"), id="whole"),
    pytest.param("0%", Decimal("0"), id="nothing"),
    pytest.param(" 34 % ", Decimal("34"), id="spaces"),
]


@pytest.mark.parametrize(("value", "percent"), PERCENTS)
def test_percentage_is_read_exactly(value: object, percent: Decimal) -> None:
    parsed = parse_percent(value)
    assert isinstance(parsed, Decimal)
    assert parsed == percent


BAD_PERCENTS = [
    pytest.param("101%", "expected a percentage between 0% and 100%, got '101%'", id="above_100"),
    pytest.param(-1, "expected a percentage between 0% and 100%, got -1", id="negative"),
    pytest.param("nan", "expected a percentage between 0% and 100%, got 'nan'", id="nan"),
    pytest.param("lots", "expected a percentage like 2% or 99.5, got 'lots'", id="word"),
    pytest.param(True, "expected a percentage like 2% or 99.5, got True", id="boolean"),
    pytest.param(None, "expected a percentage like 2% or 99.5, got NoneType", id="null"),
]


@pytest.mark.parametrize(("value", "message"), BAD_PERCENTS)
def test_bad_percentage_is_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_percent(value)
    assert str(caught.value) == message


def test_percentage_is_printed_with_its_sign() -> None:
    assert format_percent(Decimal("2.50")) == "2.5%"
    assert format_percent(Decimal("99.9")) == "99.9%"


def _slo(objective: object) -> InlineSLO:
    sli = {"ratio": {"bad": "errors", "total": "requests"}}
    return InlineSLO.model_validate({"name": "availability", "objective": objective, "sli": sli})


@pytest.mark.parametrize(
    ("objective", "hint"),
    [
        pytest.param(0.999, "objectives are percents: did you mean 99.9?", id="three_nines_as_fraction"),
        pytest.param(0.95, "objectives are percents: did you mean 95?", id="ninety_five_as_fraction"),
        pytest.param("0.5", "objectives are percents: did you mean 50?", id="quoted_fraction"),
        pytest.param(100, "an objective of 100% leaves no error budget: use e.g. 99.9", id="hundred"),
        pytest.param("101%", "expected a percentage between 0% and 100%, got '101%'", id="above_hundred"),
    ],
)
def test_objective_must_be_a_percent_below_100(objective: object, hint: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _slo(objective)
    assert hint in str(caught.value)


@pytest.mark.parametrize(
    ("objective", "expected"),
    [
        pytest.param(99.9, Decimal("99.9"), id="float"),
        pytest.param("99.5%", Decimal("99.5"), id="with_sign"),
        pytest.param(1, Decimal("1"), id="lowest_allowed"),
    ],
)
def test_objective_in_percent_is_accepted(objective: object, expected: Decimal) -> None:
    assert _slo(objective).objective == expected


def test_a_bare_number_suggests_the_unit_of_its_field() -> None:
    from harness.spec.units import bare_number_message

    assert bare_number_message(5, "within").endswith("add a unit: 5s, 5m or 5ms")
    assert bare_number_message(300, "delay").endswith("add a unit: 300ms or 300s")
