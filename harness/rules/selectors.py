"""Label matchers of a PromQL series selector, and whether a label set satisfies them.

Enough to build synthetic input series for promtool tests: a selector such as
`x_total{code=~"5..|",route!="/healthz"}` becomes matchers; `matches` follows Prometheus's rules
(regexes are fully anchored; a missing label has the value "").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Operator = Literal["=", "!=", "=~", "!~"]
_SELECTOR = re.compile(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(?:\{(.*)\})?\s*", re.S)
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


@dataclass(frozen=True)
class Matcher:
    label: str
    op: Operator
    value: str

    def accepts(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        found = re.fullmatch(self.value, value) is not None
        return found if self.op == "=~" else not found


def parse_selector(text: str) -> tuple[Matcher, ...] | None:
    """The matchers of `name{...}` (the name as a `__name__` matcher); None for anything else."""
    match = _SELECTOR.fullmatch(text)
    if match is None or not (match.group(1) or match.group(2) is not None):
        return None
    matchers = [Matcher("__name__", "=", match.group(1))] if match.group(1) else []
    body = (match.group(2) or "").strip()
    position = 0
    while position < len(body):
        item = _MATCHER.match(body, position)
        if item is None:
            return None
        value = item.group(3).encode().decode("unicode_escape")
        matchers.append(Matcher(item.group(1), item.group(2), value))  # type: ignore[arg-type]
        position = item.end()
    try:
        for matcher in matchers:
            if matcher.op in ("=~", "!~"):
                re.compile(matcher.value)
    except re.error:
        return None
    return tuple(matchers)


def matches(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.accepts(labels.get(m.label, "")) for m in matchers)


def series_text(labels: Mapping[str, str]) -> str:
    """A series in promtool's input notation: `name{a="b"}`."""
    name = labels.get("__name__", "")
    rest = ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(labels.items())
                    if key != "__name__" and value != "")
    return f"{name}{{{rest}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
