"""Values, operators and functions of the fake's PromQL evaluator (semantics of Prometheus 2.42)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Labels = Mapping[str, str]
Point = tuple[int, float]  # (unix milliseconds, value)


class Unsupported(ValueError):
    """A query (or a part of one) outside this fake's grammar."""


@dataclass(frozen=True)
class FakeSeries:
    """One series of the table: its labels (with `__name__`) and raw (unix seconds, value) samples."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Vector:
    samples: tuple[tuple[Labels, float], ...]


@dataclass(frozen=True)
class Matrix:
    series: tuple[tuple[Labels, tuple[Point, ...]], ...]
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class Scalar:
    value: float


Value = Vector | Matrix | Scalar


def without_name(labels: Labels) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != "__name__"}


def _key(labels: Labels) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(without_name(labels).items()))


def _arith(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0 or math.isnan(b):
        undefined = a == 0 or math.isnan(a) or math.isnan(b) or op == "%"
        return math.nan if undefined else math.copysign(math.inf, a)
    return a / b if op == "/" else math.fmod(a, b)


def binary(op: str, left: Value, right: Value) -> Value:
    if op in ("or", "and", "unless"):
        if not (isinstance(left, Vector) and isinstance(right, Vector)):
            raise Unsupported(f"{op} needs two instant vectors")
        keys = {_key(labels) for labels, _ in right.samples}
        if op == "or":
            seen = {_key(labels) for labels, _ in left.samples}
            extra = tuple(s for s in right.samples if _key(s[0]) not in seen)
            return Vector(left.samples + extra)
        keep = op == "and"
        return Vector(tuple(s for s in left.samples if (_key(s[0]) in keys) == keep))
    if isinstance(left, Scalar) and isinstance(right, Scalar):
        return Scalar(_arith(op, left.value, right.value))
    if isinstance(left, Scalar) and isinstance(right, Vector):
        return Vector(tuple((without_name(lb), _arith(op, left.value, v)) for lb, v in right.samples))
    if isinstance(left, Vector) and isinstance(right, Scalar):
        return Vector(tuple((without_name(lb), _arith(op, v, right.value)) for lb, v in left.samples))
    if isinstance(left, Vector) and isinstance(right, Vector):
        return _vector_binary(op, left, right)
    raise Unsupported(f"operator {op} on a range vector")


def _vector_binary(op: str, left: Vector, right: Vector) -> Vector:
    rights: dict[tuple[tuple[str, str], ...], float] = {}
    for labels, value in right.samples:
        if _key(labels) in rights:
            raise Unsupported(f"many-to-many matching for {op}")
        rights[_key(labels)] = value
    out = []
    for labels, value in left.samples:
        if _key(labels) in rights:
            out.append((without_name(labels), _arith(op, value, rights[_key(labels)])))
    return Vector(tuple(out))


def call_function(name: str, grouping_kind: str | None, grouping: list[str], args: list[Value]) -> Value:
    if name in _AGGREGATIONS:
        if len(args) != 1 or not isinstance(args[0], Vector):
            raise Unsupported(f"{name} takes one instant vector")
        return aggregate(name, grouping_kind, grouping, args[0])
    if grouping_kind is not None:
        raise Unsupported(f"{name} is not an aggregation")
    if name == "vector" and len(args) == 1 and isinstance(args[0], Scalar):
        return Vector((({}, args[0].value),))
    if name == "histogram_quantile" and len(args) == 2:
        q, buckets = args
        if isinstance(q, Scalar) and isinstance(buckets, Vector):
            return histogram_quantile(q.value, buckets)
    if (name in _OVER_TIME or name in _RATES) and len(args) == 1 and isinstance(args[0], Matrix):
        return over_time(name, args[0])
    raise Unsupported(f"function {name} with these arguments")


_AGGREGATIONS: dict[str, Callable[[list[float]], float]] = {
    "sum": math.fsum,
    "count": lambda values: float(len(values)),
    "min": min,
    "max": max,
}


def aggregate(name: str, kind: str | None, grouping: list[str], vector: Vector) -> Vector:
    groups: dict[tuple[tuple[str, str], ...], list[float]] = {}
    for labels, value in vector.samples:
        if kind == "without":
            kept = {k: v for k, v in without_name(labels).items() if k not in grouping}
        else:
            kept = {k: labels[k] for k in grouping if k in labels}
        groups.setdefault(tuple(sorted(kept.items())), []).append(value)
    return Vector(tuple((dict(key), _AGGREGATIONS[name](values)) for key, values in groups.items()))


def over_time(name: str, matrix: Matrix) -> Vector:
    out = []
    for labels, points in matrix.series:
        if name in _RATES:
            result = extrapolated_rate(points, matrix.start_ms, matrix.end_ms, is_rate=name == "rate")
            if result is None:
                continue  # fewer than two samples: no rate
        else:
            result = _OVER_TIME[name]([v for _, v in points])
        # Prometheus 2.42 keeps the metric name for last_over_time only.
        out.append((labels if name == "last_over_time" else without_name(labels), result))
    return Vector(tuple(out))


_RATES = ("increase", "rate")
_OVER_TIME: dict[str, Callable[[list[float]], float]] = {
    "last_over_time": lambda values: values[-1],
    "min_over_time": min,
    "max_over_time": max,
    "sum_over_time": math.fsum,
    "count_over_time": lambda values: float(len(values)),
}


def extrapolated_rate(points: Sequence[Point], start_ms: int, end_ms: int, is_rate: bool) -> float | None:
    """Prometheus 2.42's `extrapolatedRate` for counters: resets added back, edges extrapolated."""
    if len(points) < 2:
        return None
    (first_t, first_v), (last_t, last_v) = points[0], points[-1]
    result = last_v - first_v
    previous = 0.0
    for _, value in points:
        if value < previous:
            result += previous
        previous = value
    to_start = (first_t - start_ms) / 1000
    to_end = (end_ms - last_t) / 1000
    sampled = (last_t - first_t) / 1000
    average = sampled / (len(points) - 1)
    if result > 0 and first_v >= 0:
        # A counter is never negative: extrapolate back at most to its zero point.
        to_start = min(to_start, sampled * (first_v / result))
    threshold = average * 1.1
    interval = sampled + (to_start if to_start < threshold else average / 2)
    interval += to_end if to_end < threshold else average / 2
    result *= interval / sampled
    return result / ((end_ms - start_ms) / 1000) if is_rate else result


def histogram_quantile(q: float, buckets: Vector) -> Vector:
    """Prometheus's `bucketQuantile`: linear interpolation inside the bucket that holds the rank."""
    groups: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    for labels, value in buckets.samples:
        rest = {k: v for k, v in without_name(labels).items() if k != "le"}
        groups.setdefault(tuple(sorted(rest.items())), []).append((float(labels["le"]), value))
    return Vector(tuple((dict(key), _bucket_quantile(q, sorted(found))) for key, found in groups.items()))


def _bucket_quantile(q: float, found: list[tuple[float, float]]) -> float:
    if not found or not math.isinf(found[-1][0]) or len(found) < 2:
        return math.nan
    counts = [max(c for _, c in found[: i + 1]) for i in range(len(found))]  # made monotonic
    observations = counts[-1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = next(i for i, c in enumerate([*counts[:-1], math.inf]) if c >= rank)
    if b == len(found) - 1:
        return found[-2][0]
    if b == 0 and found[0][0] <= 0:
        return found[0][0]
    start, count = (found[b - 1][0], counts[b] - counts[b - 1]) if b > 0 else (0.0, counts[b])
    rank -= counts[b - 1] if b > 0 else 0.0
    return start + (found[b][0] - start) * (rank / count)
