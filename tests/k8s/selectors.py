"""Kubernetes label and field selectors, as the API server reads them from a query string."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

_SET = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
Predicate = Callable[[Mapping[str, str]], bool]


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses (`a in (x,y),b=c` is two requirements)."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _requirement(text: str) -> Predicate:
    found = _SET.match(text)
    if found:
        key, op, values = found.group(1), found.group(2), {v.strip() for v in found.group(3).split(",")}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    for op in ("!=", "==", "="):
        if op in text:
            key, value = (s.strip() for s in text.split(op, 1))
            if op == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    if text.startswith("!"):
        return lambda labels: text[1:] not in labels
    return lambda labels: text in labels


def selector(text: str | None) -> Predicate:
    """A predicate over a label (or field) mapping; an empty selector matches everything."""
    requirements = [_requirement(part) for part in _split(text or "")]
    return lambda labels: all(req(labels) for req in requirements)
