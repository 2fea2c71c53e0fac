"""Pure PromQL text: selectors, window literals and the queries the evidence is counted with.

Nothing here does I/O, so the spec, the plan, the evidence and Prometheus itself may all build on it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

WINDOW_PLACEHOLDERS = ("{{window}}", "{{.window}}")  # ours, and Sloth's spelling
# Prometheus's default lookback: a series with a sample this close before start existed at start.
DEFAULT_LOOKBACK_S = 300.0
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_SELECTOR = re.compile(r"\s*(?=\S)([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(\{[^{}]*\})?\s*")



def with_matcher(selector: str, matcher: str) -> str:
    """Add one label matcher to a selector: `m{a="b"}` + `le="0.3"` → `m{a="b",le="0.3"}`."""
    text = selector.strip()
    if text.endswith("}"):
        inner = text[text.index("{") + 1 : -1].strip().rstrip(",")
        return f"{text[: text.index('{')]}{{{inner + ',' if inner else ''}{matcher}}}"
    return f"{text}{{{matcher}}}"


def histogram_selectors(histogram: str, selector: str, le: str) -> tuple[str, str]:
    """(requests under the bound, all requests) of a classic histogram."""
    good = with_matcher(f"{histogram}_bucket{selector}", f'le="{le}"')
    return good, f"{histogram}_count{selector}"


def le_text(threshold_s: float) -> str:
    """The usual spelling of a bucket bound (`0.25`, `1`); the real one is discovered at preflight."""
    return f"{threshold_s:g}"


def window_literal(seconds: float) -> str:
    """A PromQL duration: whole seconds as `600s`, fractional windows in milliseconds as `1500ms`."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a window must be a positive duration, got {seconds} s")
    millis = round(seconds * 1000)
    if millis == 0:
        raise ValueError(f"a window must be at least 1 ms, got {seconds} s")
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def is_selector(text: str) -> bool:
    """True for a bare series selector like `x_total{code=~"5.."}` (no functions, no range)."""
    return _SELECTOR.fullmatch(_QUOTED.sub('""', text)) is not None


def increase_query(selector_or_expr: str, window_s: float) -> str:
    """`sum(increase(<selector>[<window>]))`, or an expression with `{{window}}` filled in."""
    window = window_literal(window_s)
    if any(p in selector_or_expr for p in WINDOW_PLACEHOLDERS):
        query = selector_or_expr
        for placeholder in WINDOW_PLACEHOLDERS:
            query = query.replace(placeholder, window)
        return query
    if not is_selector(selector_or_expr):
        raise ValueError(
            f"{selector_or_expr!r} is neither a counter selector nor an expression with {{{{window}}}}"
        )
    return f"sum(increase({selector_or_expr.strip()}[{window}]))"


def at_modifier(t: float) -> str:
    """`@ T` for "every sample at or before t": sample timestamps are whole milliseconds, so T is t rounded
    down to one (rounding to the nearest would let a sample a fraction of a millisecond after t in)."""
    millis = t * 1000.0
    nearest = round(millis)
    whole = nearest if abs(millis - nearest) < 1e-6 else math.floor(millis)
    return f"@ {whole // 1000}.{whole % 1000:03d}"


def raw_samples_query(selector: str, window_s: float) -> str:
    """A range vector selector; as an instant query it returns the raw samples of the window."""
    return f"{selector.strip()}[{window_literal(window_s)}]"


def born_query(selector: str, start: float, end: float, lookback_s: float = DEFAULT_LOOKBACK_S) -> str:
    """Series with samples in the window but none in the lookback before start (evaluated at end)."""
    sel = selector.strip()
    return (
        f"last_over_time({sel}[{window_literal(end - start)}])"
        f" unless last_over_time({sel}[{window_literal(lookback_s)}] {at_modifier(start)})"
    )


def bounds_query(histogram: str, selector: str, window_s: float) -> str:
    """The `le` values of a histogram's buckets seen in the window (evaluated at end)."""
    return f"count by (le) (last_over_time({histogram}_bucket{selector.strip()}[{window_literal(window_s)}]))"


def up_queries(job_selector: str, window_s: float) -> tuple[str, str]:
    """(worst `up`, number of `up` samples) per target over the window (evaluated at end)."""
    window = window_literal(window_s)
    sel = job_selector.strip()
    return (f"min_over_time(up{sel}[{window}])", f"count_over_time(up{sel}[{window}])")


def find_bound(bounds: Sequence[tuple[str, float]], threshold_s: float) -> str | None:
    """The stored `le` text equal to the threshold (`0.5`, `1`, `1.0` alike), or None.

    If one bound is stored under two spellings (a Prometheus 2 → 3 upgrade inside the window writes
    `le="1"` then `le="1.0"`), the first in the list is returned.
    """
    for text, value in bounds:
        if math.isclose(value, threshold_s, rel_tol=1e-9, abs_tol=0.0):
            return text
    return None
