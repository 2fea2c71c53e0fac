"""Learning the scrape interval of the targets behind an SLI (I/O), instead of assuming one.

First from Prometheus's targets API (`scrapeInterval` of each active target whose job and instance
the SLI's series carry); where there is none (Thanos, Mimir, VictoriaMetrics, federated series), from
the spacing of the SLI's raw samples. The largest interval of an SLI's targets is its interval.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import EvidenceError
from harness.evidence.health import TARGET_LOOKBACK_S, series_targets
from harness.prom.client import PromClient
from harness.promql import raw_samples_query
from harness.spec.units import parse_duration

TARGETS_LOOKBACK_S = 600.0
SPACING_LOOKBACK_S = 120.0
DISAGREEMENT = 0.25  # a declared interval more than 25 % off the observed one is reported


@dataclass(frozen=True)
class Learned:
    seconds: float
    source: str


def learn_interval(client: PromClient, selectors: Sequence[str], at: float,
                   targets: Sequence[Mapping[str, Any]] | None) -> Learned | None:
    """The scrape interval behind `selectors`, or None when nothing can be read yet (no series)."""
    keys = series_targets(client, selectors, at - (TARGETS_LOOKBACK_S - TARGET_LOOKBACK_S), at)
    by_api = _from_targets_api(targets or (), keys)
    if by_api is not None:
        return by_api
    return _from_spacing(client, selectors, at)


def active_targets(client: PromClient) -> list[Mapping[str, Any]] | None:
    """The targets API's active targets, or None where the backend has no such API."""
    try:
        return client.targets()
    except EvidenceError:
        return None


def disagreement(declared: float, learned: Learned) -> str | None:
    """A warning when a declared interval contradicts what Prometheus shows."""
    if abs(declared - learned.seconds) <= DISAGREEMENT * learned.seconds:
        return None
    return (f"prometheus.scrape_interval {declared:g}s disagrees with the {learned.seconds:g}s shown by "
            f"{learned.source}: the observed {learned.seconds:g}s is used to judge gaps (fix the declared value "
            "or remove it)")


def _from_targets_api(targets: Sequence[Mapping[str, Any]], keys: set[tuple[str, str]]) -> Learned | None:
    found: dict[str, float] = {}
    for target in targets:
        labels = target.get("labels") or {}
        key = (str(labels.get("job")), str(labels.get("instance")))
        interval = target.get("scrapeInterval")
        if key in keys and isinstance(interval, str):
            try:
                found[key[0]] = max(found.get(key[0], 0.0), parse_duration(interval))
            except ValueError:
                continue
    if not found:
        return None
    job, seconds = max(found.items(), key=lambda item: item[1])
    return Learned(seconds, f"the targets API (job {job})")


def _from_spacing(client: PromClient, selectors: Sequence[str], at: float) -> Learned | None:
    spacings: list[float] = []
    for selector in selectors:
        answer = client.query(raw_samples_query(selector, SPACING_LOOKBACK_S), at=at)
        for series in answer.matrix:
            times = [t for t, _ in series.points]
            gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
            if gaps:
                spacings.append(statistics.median(gaps))
    if not spacings:
        return None
    # Samples of one scrape land at the same offset: round to the millisecond to drop float noise.
    return Learned(round(max(spacings), 3), "the spacing of the raw samples")
