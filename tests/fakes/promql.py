"""A small PromQL evaluator over a table of raw samples: the query shapes the harness sends, no more.

Semantics follow Prometheus 2.42: a range `x[D]` evaluated at t selects the samples with
t - D <= ts <= t (times in whole milliseconds); `increase`/`rate` extrapolate like its
`extrapolatedRate`; aggregations and functions other than `last_over_time` drop `__name__`; binary
operators match one-to-one on all other labels; `or`/`and`/`unless` compare label sets without
`__name__`. Anything outside this grammar raises Unsupported, so a test notices a query it did not
plan for. tests/integration/test_evidence_real.py checks these answers against a real Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tests.fakes.promql_ops import (
    FakeSeries,
    Labels,
    Matrix,
    Scalar,
    Unsupported,
    Value,
    Vector,
    binary,
    call_function,
)

__all__ = ["Evaluator", "FakeSeries", "Matrix", "Scalar", "Unsupported", "Value", "Vector",
           "parse_series_name"]

LOOKBACK_DELTA_MS = 300_000
_IDENT = "a-zA-Z0-9_:"
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(?:\{(.*)\})?", re.S)
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_RANGE = re.compile(r"(.*)\[(\d+)(ms|s|m|h|d)\]", re.S)
_AT = re.compile(r"(.*?)\s*@\s*([0-9]+(?:\.[0-9]*)?)", re.S)
_CALL = re.compile(r"([a-z_]+)\s*(?:(by|without)\s*\(([^()]*)\)\s*)?\(", re.S)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?(?:e[+-]?[0-9]+)?|Inf|NaN)", re.I)
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# Binary operators from the lowest precedence to the highest (comparisons are not supported).
_PRECEDENCE = (("or",), ("and", "unless"), ("+", "-"), ("*", "/", "%"))


def to_ms(seconds: float) -> int:
    return round(seconds * 1000)


def parse_series_name(spec: str) -> dict[str, str]:
    """`name{a="b"}` as a label set; only `=` matchers make sense for a series."""
    matchers = parse_selector(spec)
    if any(op != "=" for _, op, _ in matchers):
        raise ValueError(f"a series is written with = only: {spec!r}")
    return {name: value for name, _, value in matchers}


def parse_selector(text: str) -> list[tuple[str, str, str]]:
    """The (label, operator, value) matchers of `name{...}`; the name becomes a `__name__` matcher."""
    match = _SELECTOR.fullmatch(text.strip())
    if match is None or not (match.group(1) or match.group(2) is not None):
        raise Unsupported(f"not a series selector: {text!r}")
    matchers = [("__name__", "=", match.group(1))] if match.group(1) else []
    inner, pos = (match.group(2) or "").strip(), 0
    while pos < len(inner):
        item = _MATCHER.match(inner, pos)
        if item is None:
            raise Unsupported(f"cannot read the label matchers of {text!r}")
        value = item.group(3).encode().decode("unicode_escape")
        matchers.append((item.group(1), item.group(2), value))
        pos = item.end()
    return matchers


def _matches(labels: Labels, matchers: Sequence[tuple[str, str, str]]) -> bool:
    for name, op, value in matchers:
        actual = labels.get(name, "")
        hit = re.fullmatch(value, actual) is not None if op in ("=~", "!~") else actual == value
        if hit != (op in ("=", "=~")):
            return False
    return True


class Evaluator:
    """Evaluates one query at one time over the series table."""

    def __init__(self, series: Sequence[FakeSeries]) -> None:
        self._series = series

    def evaluate(self, query: str, at_s: float) -> Value:
        return self._eval(query.strip(), to_ms(at_s))

    def _eval(self, expr: str, at: int) -> Value:
        expr = expr.strip()
        for ops in _PRECEDENCE:
            split = _split_binary(expr, ops)
            if split is not None:
                left, op, right = split
                return binary(op, self._eval(left, at), self._eval(right, at))
        if expr.startswith("(") and _closing(expr, 0) == len(expr) - 1:
            return self._eval(expr[1:-1], at)
        if _NUMBER.fullmatch(expr):
            return Scalar(float(expr))
        call = _CALL.match(expr)
        if call and _closing(expr, call.end() - 1) == len(expr) - 1:
            args = [self._eval(a, at) for a in _split_args(expr[call.end() : -1])]
            grouping = [g.strip() for g in (call.group(3) or "").split(",") if g.strip()]
            return call_function(call.group(1), call.group(2), grouping, args)
        return self._select(expr, at)

    def _select(self, expr: str, at: int) -> Value:
        pinned = _AT.fullmatch(expr)
        if pinned:
            expr, at = pinned.group(1), to_ms(float(pinned.group(2)))
        ranged = _RANGE.fullmatch(expr)
        if ranged:
            length = int(ranged.group(2)) * _UNITS_MS[ranged.group(3)]
            return self.select_range(parse_selector(ranged.group(1)), at - length, at)
        matrix = self.select_range(parse_selector(expr), at - LOOKBACK_DELTA_MS + 1, at)
        return Vector(tuple((labels, points[-1][1]) for labels, points in matrix.series))

    def select_range(self, matchers: Sequence[tuple[str, str, str]], start: int, end: int) -> Matrix:
        found = []
        for series in self._series:
            if not _matches(series.labels, matchers):
                continue
            points = tuple(sorted((to_ms(t), v) for t, v in series.points if start <= to_ms(t) <= end))
            if points:
                found.append((series.labels, points))
        return Matrix(tuple(found), start, end)


def _split_binary(expr: str, ops: Sequence[str]) -> tuple[str, str, str] | None:
    """The last top-level operator of `ops` (left-associative): (left, operator, right)."""
    found: tuple[int, str] | None = None
    depth, i = 0, 0
    while i < len(expr):
        ch = expr[i]
        if ch == '"':
            i = _end_of_quote(expr, i)
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            for op in ops:
                if expr.startswith(op, i) and _is_operator(expr, i, op):
                    found = (i, op)
        i += 1
    if found is None:
        return None
    index, op = found
    return expr[:index], op, expr[index + len(op) :]


def _is_operator(expr: str, i: int, op: str) -> bool:
    before, after = expr[:i].rstrip(), expr[i + len(op) :]
    if not before:
        return False  # a sign, not an operator
    if op[0].isalpha():
        return not (expr[i - 1 : i].isalnum() or expr[i - 1 : i] in "_:" or re.match(rf"[{_IDENT}]", after))
    # `1e-9`: a sign inside a number literal
    return not (op in "+-" and re.search(r"[0-9.]e$", before, re.I) is not None)


def _end_of_quote(expr: str, i: int) -> int:
    i += 1
    while i < len(expr) and expr[i] != '"':
        i += 2 if expr[i] == "\\" else 1
    return i


def _closing(expr: str, open_index: int) -> int:
    depth, i = 0, open_index
    while i < len(expr):
        if expr[i] == '"':
            i = _end_of_quote(expr, i)
        elif expr[i] == "(":
            depth += 1
        elif expr[i] == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise Unsupported(f"unbalanced parentheses in {expr!r}")


def _split_args(text: str) -> list[str]:
    args, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            i = _end_of_quote(text, i)
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(text[start:i])
            start = i + 1
        i += 1
    return [*args, text[start:]]
