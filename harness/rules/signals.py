"""What an SLO counts, as PromQL the rules can evaluate over any window.

A ratio SLI gives its `bad` (or `good`) and `total` counters; a latency SLI its histogram's bucket
at the threshold and its count. A client SLI is counted from the load generator, which Prometheus
never sees, so it has no rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.promql import WINDOW_PLACEHOLDERS, is_selector, with_matcher
from harness.spec.models import InlineSLO


@dataclass(frozen=True)
class Signals:
    counts: Literal["bad", "good"]
    events: str
    """A counter selector, or an expression containing {{window}}."""
    total: str

    def error_ratio(self, window: str) -> str:
        """The error ratio over `window`. No matching bad (or good) series yet means no such event
        yet (an error counter is often born with its first error), so it counts as 0, not as no data."""
        events, total = _rate(self.events, window), _rate(self.total, window)
        if self.counts == "bad":
            return f"(({events}) or vector(0))\n/\n({total})"
        return f"1 - (({events}) or vector(0))\n/\n({total})"

    @property
    def selectors(self) -> tuple[str, str] | None:
        """(events, total) when both are plain selectors (what synthetic test series can be built for)."""
        if is_selector(self.events) and is_selector(self.total):
            return self.events.strip(), self.total.strip()
        return None


def signals_of(slo: InlineSLO) -> Signals | None:
    """The SLI's counters, or None for a client SLI (counted outside Prometheus)."""
    sli = slo.sli
    if sli.ratio is not None:
        if sli.ratio.bad is not None:
            return Signals("bad", sli.ratio.bad, sli.ratio.total)
        return Signals("good", sli.ratio.good or "", sli.ratio.total)
    if sli.latency is not None:
        latency = sli.latency
        bound = f'le=~"{_le_pattern(latency.threshold)}"'
        bucket = with_matcher(f"{latency.histogram}_bucket{latency.selector}", bound)
        return Signals("good", bucket, f"{latency.histogram}_count{latency.selector}")
    return None


def _le_pattern(threshold_s: float) -> str:
    """Both spellings of a whole-number bound: Prometheus 2 writes `le="1"`, Prometheus 3 `le="1.0"`."""
    text = f"{threshold_s:g}"
    if "." not in text and "e" not in text:
        return f"{text}|{text}\\\\.0"
    return text.replace(".", "\\\\.")  # a literal dot, escaped once for PromQL's string and once for the regex


def _rate(selector_or_expr: str, window: str) -> str:
    if any(p in selector_or_expr for p in WINDOW_PLACEHOLDERS):
        text = selector_or_expr
        for placeholder in WINDOW_PLACEHOLDERS:
            text = text.replace(placeholder, window)
        return text.strip()
    return f"sum(rate({selector_or_expr.strip()}[{window}]))"
