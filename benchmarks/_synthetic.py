"""Synthetic services for evaluation_scaling.py: counters at a 1 s step with a known truth.

6 services (`job` svc0..svc5) x 3 instances x 2 routes. Each (service, instance, route) serves 8-12
requests a second; `app_requests_total` counts them by `code` (200, 503 and, on three of them, a 500
counter born mid-run), `app_request_duration_seconds` is a histogram of their latencies with `le`
buckets, and every instance has an `up` series. Two instances restart between two scrapes (every
counter of theirs drops to the events since the restart: a counter reset), three times in all.
Errors and latency rise during the fault phases of every phase length.

The truth of a series over (start, end] is the events of its scrapes in that window: what Prometheus
could see. A series born in the window counts its first value whole (it started from 0).
"""

from __future__ import annotations

import itertools
import random
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

T0 = 1_700_000_000  # a fixed past time: promtool blocks are served whatever their age
SPAN_S = 11_520  # 3.2 hours of samples, one a second
JOBS = tuple(f"svc{j}" for j in range(6))
INSTANCES = ("i0", "i1", "i2")
ROUTES = ("/a", "/b")
REQUESTS = "app_requests_total"
HISTOGRAM = "app_request_duration_seconds"
BOUNDS = ("0.05", "0.1", "0.25", "0.5", "1", "+Inf")
NORMAL_WEIGHTS = (60, 25, 10, 4, 1, 0.2)  # requests per latency bucket (not cumulative)
SLOW_WEIGHTS = (20, 20, 25, 20, 10, 5)
FIRST_WINDOW_S = 300.4  # windows start 5 minutes in (Prometheus's lookback has data) and between scrapes
PHASES = ("baseline", "fault", "recovery")
RESTARTS = {("svc0", "i1"): (390, 5000), ("svc1", "i2"): (1200,)}  # offsets from T0
BORN_500 = {("svc0", "i0", "/a"): 400, ("svc1", "i1", "/b"): 1000, ("svc2", "i2", "/a"): 5000}
FAULTY_ERRORS = ("svc0", "svc3")
FAULTY_LATENCY = ("svc1", "svc4")


def windows_for(length_s: int) -> list[tuple[str, float, float]]:
    """Three back-to-back phases of length_s, the first starting FIRST_WINDOW_S after T0."""
    start = T0 + FIRST_WINDOW_S
    return [(phase, start + i * length_s, start + (i + 1) * length_s) for i, phase in enumerate(PHASES)]


def fault_spans() -> list[tuple[float, float]]:
    """The fault phase of every phase length used (1 min, 10 min, 1 h), as offsets from T0."""
    return [(start - T0, end - T0) for length in (60, 600, 3600)
            for phase, start, end in windows_for(length) if phase == "fault"]


@dataclass
class Synthetic:
    """One series: `first` is the offset of its first sample; `seen[i]` the events of its samples 0..i."""

    name: str
    labels: Mapping[str, str]
    first: int
    values: array[int] = field(default_factory=lambda: array("q"))
    seen: array[int] = field(default_factory=lambda: array("q"))

    def add(self, value: int, events: int) -> None:
        self.values.append(value)
        self.seen.append((self.seen[-1] if self.seen else 0) + events)

    def truth(self, start: float, end: float) -> int:
        return self._seen_by(end) - self._seen_by(start)

    def _seen_by(self, moment: float) -> int:
        index = min(int(moment - T0) - self.first, len(self.seen) - 1)
        return self.seen[index] if index >= 0 else 0

    def samples(self) -> Iterator[tuple[int, int]]:
        return ((T0 + self.first + i, v) for i, v in enumerate(self.values))


class _Counter:
    """A counter of one (service, instance, route): grows by events, restarts with its process."""

    def __init__(self, series: Synthetic, start_value: int) -> None:
        self.series = series
        self.value = start_value

    def step(self, events: int, restarted: bool) -> None:
        if restarted:
            if events >= self.value:
                raise AssertionError(f"a restart of {self.series.labels} would not show as a reset")
            self.value = events
        else:
            self.value += events
        born = not self.series.values and self.series.first > 0
        self.series.add(self.value, self.value if born else events)


def _in_fault(t: int, spans: Iterable[tuple[float, float]]) -> bool:
    return any(low < t <= high for low, high in spans)


def _group(job: str, instance: str, route: str, rng: random.Random) -> list[Synthetic]:
    """Every series of one (service, instance, route) over SPAN_S seconds."""
    labels = {"job": job, "instance": instance, "route": route}
    born_at = BORN_500.get((job, instance, route))
    restarts = set(RESTARTS.get((job, instance), ()))
    spans = fault_spans()
    codes = {code: _Counter(Synthetic(REQUESTS, {**labels, "code": code}, 0), rng.randint(10**5, 10**6))
             for code in ("200", "503")}
    buckets = [_Counter(Synthetic(f"{HISTOGRAM}_bucket", {**labels, "le": le}, 0), 0) for le in BOUNDS]
    count = _Counter(Synthetic(f"{HISTOGRAM}_count", labels, 0), 0)
    start = rng.randint(10**5, 10**6)
    for k, counter in enumerate(buckets):  # cumulative buckets start consistent with each other
        counter.value = round(start * sum(NORMAL_WEIGHTS[: k + 1]) / sum(NORMAL_WEIGHTS))
    count.value = buckets[-1].value
    late = _Counter(Synthetic(REQUESTS, {**labels, "code": "500"}, born_at), 0) if born_at else None
    rate = rng.randint(8, 12)
    for t in range(SPAN_S):
        fault = _in_fault(t, spans)
        n = 0 if t == 0 else rate + rng.randint(-2, 2)
        p_error = 0.05 if fault and job in FAULTY_ERRORS else 0.002
        e503 = sum(1 for _ in range(n) if rng.random() < p_error)
        alive = late is not None and t >= late.series.first
        e500 = int(alive and (t == born_at or rng.random() < 0.2))
        restarted = t in restarts
        codes["200"].step(n - e503 - e500, restarted)
        codes["503"].step(e503, restarted)
        if late is not None and alive:
            late.step(e500, restarted)
        weights = SLOW_WEIGHTS if fault and job in FAULTY_LATENCY else NORMAL_WEIGHTS
        per_bucket = [0] * len(BOUNDS)
        for index in rng.choices(range(len(BOUNDS)), weights, k=n):
            per_bucket[index] += 1
        for counter, events in zip(buckets, itertools.accumulate(per_bucket), strict=True):
            counter.step(events, restarted)
        count.step(n, restarted)
    found = [c.series for c in (*codes.values(), *buckets, count)]
    return found + ([late.series] if late is not None else [])


def synthesise(seed: int = 7) -> list[Synthetic]:
    rng = random.Random(seed)
    series = [s for job in JOBS for instance in INSTANCES for route in ROUTES
              for s in _group(job, instance, route, rng)]
    for job in JOBS:
        for instance in INSTANCES:
            up = Synthetic("up", {"job": job, "instance": instance}, 0)
            for _ in range(SPAN_S):
                up.add(1, 0)
            series.append(up)
    return series


def openmetrics_lines(series: list[Synthetic]) -> Iterator[str]:
    """The series as OpenMetrics text (timestamps in seconds), one family after another, then `# EOF`."""
    families = (("app_requests", "counter", (REQUESTS,)),
                (HISTOGRAM, "histogram", (f"{HISTOGRAM}_bucket", f"{HISTOGRAM}_count")),
                ("up", "gauge", ("up",)))
    for family, kind, names in families:
        yield f"# TYPE {family} {kind}\n"
        for s in series:
            if s.name in names:
                labels = ",".join(f'{k}="{v}"' for k, v in s.labels.items())
                prefix = f"{s.name}{{{labels}}} "
                yield from (f"{prefix}{v} {t}\n" for t, v in s.samples())
    yield "# EOF\n"


@dataclass(frozen=True)
class Match:
    """What one SLI side selects, as a predicate over the synthetic series (to sum their truth)."""

    name: str
    labels: Mapping[str, str]
    errors_only: bool = False  # code=~"5.."

    def selector(self) -> str:
        matchers = [f'{k}="{v}"' for k, v in self.labels.items()]
        matchers += ['code=~"5.."'] if self.errors_only else []
        return f"{self.name}{{{','.join(matchers)}}}"

    def truth(self, series: Iterable[Synthetic], start: float, end: float) -> int:
        return sum(s.truth(start, end) for s in series if self._matches(s))

    def _matches(self, s: Synthetic) -> bool:
        if s.name != self.name or any(s.labels.get(k) != v for k, v in self.labels.items()):
            return False
        return not self.errors_only or s.labels.get("code", "").startswith("5")
