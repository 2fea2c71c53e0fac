"""Pure PromQL text helpers for building SLI selectors (the window queries are in evidence.queries)."""

from __future__ import annotations


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
