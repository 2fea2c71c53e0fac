"""Label sets that satisfy some selectors and not others: the input series of generated rule tests.

A rule test needs a series the SLI counts as bad (or good) and one it counts only in its total.
Candidate values come from the matchers themselves (equality values, the branches of a regex with
`.` read as `0`, and a few neutral values); every combination is checked against the real matcher
semantics, so a label set returned here is known to be counted exactly as intended.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence

from harness.rules.selectors import Matcher, matches

_NEUTRAL = ("", "x", "200", "500")
_MAX_COMBINATIONS = 20_000


def find_labels(must: Sequence[Sequence[Matcher]], must_not: Sequence[Sequence[Matcher]] = ()) -> dict[str, str] | None:
    """A label set matched by every selector in `must` and by none in `must_not`, or None."""
    everything = [m for group in (*must, *must_not) for m in group]
    labels = sorted({m.label for m in everything})
    choices = [_candidates(label, everything) for label in labels]
    for count, values in enumerate(itertools.product(*choices)):
        if count > _MAX_COMBINATIONS:
            return None
        found = {label: value for label, value in zip(labels, values, strict=True)}
        if found.get("__name__") and all(matches(g, found) for g in must) and \
                not any(matches(g, found) for g in must_not):
            return {k: v for k, v in found.items() if v != ""}
    return None


def _candidates(label: str, matchers: Sequence[Matcher]) -> list[str]:
    values: dict[str, None] = {}
    for matcher in matchers:
        if matcher.label != label:
            continue
        if matcher.op in ("=", "!="):
            values[matcher.value] = None
        else:
            values.update(dict.fromkeys(_regex_examples(matcher.value)))
    # no label at all first: the plainest series that satisfies the selectors
    return ["", *(v for v in values if v != ""), *(v for v in _NEUTRAL if v not in values and v != "")]


def _regex_examples(pattern: str) -> Iterator[str]:
    """Strings a simple regex probably matches: each top-level branch with an escaped character taken
    literally and any other `.` read as `0` (`5..` → `500`, `0\\.25` → `0.25`, `(5..|429)` → `500`,
    `429`); `matches` checks them afterwards."""
    body = pattern.strip()
    if body.startswith("(") and body.endswith(")") and body.count("(") == 1:
        body = body[1:-1]
    for branch in body.split("|"):
        text = branch.replace(".*", "").replace(".+", "0")
        text = re.sub(r"\\(.)|\.", lambda m: m.group(1) or "0", text)
        yield re.sub(r"[\^$()?*+\[\]]", "", text)
