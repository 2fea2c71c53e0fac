"""SLO files from other tools (Sloth `prometheus/v1`, OpenSLO v1) → inline SLOs.

An experiment's `slos: - import: <file>` adds every SLO of that file. `import_slos` reads every YAML
document of the file and tells the format of each apart: `version: prometheus/v1` is Sloth,
`apiVersion: openslo/v1` (or a list of such objects) is OpenSLO. Each SLO becomes an `InlineSLO`
that gives the same verdict as the same SLO written inline. What has no faithful mapping (a ratio
without event counts, time slices, threshold metrics, non-PromQL sources) is refused with the file,
line and field path, never guessed. The mapping rules of each format are in `sloth.py` and
`openslo.py`; the query rules shared by both are here.

Window queries. Both formats may give a query spanning Sloth's `{{.window}}` placeholder (Sloth
requires it; OpenSLO files written for Sloth use it too). The harness needs *event counts* over the
exact window (for the confidence bound and the minimum-events rule), so such a query becomes:
- `sum(rate(<selector>[{{.window}}]))` or `sum(increase(…))` → the bare selector: the query builder
  turns it back into `sum(increase(<selector>[<D>]))`, i.e. Sloth's own value times D, and can count
  exactly from raw samples;
- any other expression → the same expression with `{{window}}`, where each `rate(…[{{window}}])`
  is rewritten to `increase(…)`. In Prometheus `increase(v[D])` is exactly `rate(v[D]) * D`, so the
  ratio (Sloth's SLI) is unchanged and the numbers become event counts. This holds for queries that
  are sums and differences of rates, which is what Sloth documents ("the number/count of events").
- `irate` is refused (it reads the last two samples only, not the window's events).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from harness.promql import is_selector
from harness.spec.models import InlineSLO
from harness.spec.source import Document, Loc, Problem

WINDOW = "{{window}}"
_ANY_WINDOW = re.compile(r"\{\{\s*\.?window\s*\}\}")
_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_IRATE = re.compile(r"(?<![A-Za-z0-9_:])irate\s*\(")
_RATE = re.compile(r"(?<![A-Za-z0-9_:])rate\s*\(")
_ENDS_IN_WINDOW = re.compile(r"\[\s*\{\{window\}\}\s*\]\s*$")
_SUMMED_WINDOW = re.compile(
    r"sum\s*\(\s*(?:rate|increase)\s*\((?P<sel>.+)\[\s*\{\{window\}\}\s*\]\s*\)\s*\)", re.DOTALL
)
_SUM_OF = re.compile(r"sum\s*\((?P<inner>.*)\)", re.DOTALL)
_SLUG = re.compile(r"[^a-z0-9]+")


class Findings:
    """Collects the problems of one imported file, each located by field path and YAML line."""

    def __init__(self, doc: Document, problems: list[Problem], prefix: Loc = ()) -> None:
        self.doc = doc
        self.problems = problems
        self.prefix = prefix

    def within(self, prefix: Loc) -> Findings:
        """The same file and problem list, for an object at `prefix` (an item of a list document)."""
        return Findings(self.doc, self.problems, (*self.prefix, *prefix))

    def add(self, loc: Loc, message: str) -> None:
        full = (*self.prefix, *loc)
        self.problems.append(Problem(self.doc.path, full, message, self.doc.line_of(full)))

    def mapping(self, value: Any, loc: Loc) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.add(loc, "required field is missing" if value is None
                 else f"expected a mapping of fields, got {type(value).__name__} {value!r}")
        return None

    def text(self, data: Mapping[str, Any], key: str, loc: Loc, required: bool = True) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                self.add((*loc, key), "required field is missing")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add((*loc, key), f"expected a non-empty text, got {value!r}")
            return None
        return value

    def unknown(self, data: Mapping[str, Any], known: Iterable[str], loc: Loc, what: str) -> None:
        names = sorted(known)
        for key in data:
            if key not in names:
                self.add((*loc, str(key)),
                         f"unknown field in {what} (check the spelling; known: {', '.join(names)})")


@dataclass(frozen=True)
class Mapped:
    """One imported SLO and where its name comes from (to report a name used twice)."""

    slo: InlineSLO
    found: Findings
    name_loc: Loc
    origin: str


def window_expression(query: str) -> str:
    """A query spanning Sloth's `{{.window}}` → a selector or `{{window}}` expression giving event counts."""
    text = _ANY_WINDOW.sub(WINDOW, query).strip()
    if WINDOW not in text:
        raise ValueError("the query has no {{.window}} placeholder, so it cannot be evaluated over the "
                         "experiment's windows (write its range as [{{.window}}])")
    leftover = _TEMPLATE.sub(lambda m: "" if m.group(0) == WINDOW else m.group(0), text)
    if "{{" in leftover:
        raise ValueError("only the {{.window}} template variable is supported in a query")
    masked = _mask_quotes(text)
    if _IRATE.search(masked):
        raise ValueError("irate() reads only the last two samples, not the events of a window: "
                         "use rate() or increase()")
    summed = _SUMMED_WINDOW.fullmatch(masked)
    if summed is not None:
        selector = text[summed.start("sel"):summed.end("sel")].strip()
        if is_selector(selector):
            return selector
    return _rates_to_increases(text, masked)


def has_window(query: str) -> bool:
    return _ANY_WINDOW.search(query) is not None


def counter_selector(query: str) -> str:
    """A counter query (`x_total{…}` or `sum(x_total{…})`) → the selector the query builder takes."""
    text = query.strip()
    summed = _SUM_OF.fullmatch(_mask_quotes(text))
    inner = text[summed.start("inner"):summed.end("inner")].strip() if summed else text
    if is_selector(inner):
        return inner
    raise ValueError("expected a counter selector like 'http_requests_total{code!~\"5..\"}' or "
                     f"sum(<selector>), got {query.strip()!r}; for another expression give its range as "
                     "[{{.window}}] so it can be evaluated over each window")


def _mask_quotes(text: str) -> str:
    """The text with quoted strings blanked (same length): parentheses and names in strings are not seen."""
    return _QUOTED.sub(lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1], text)


def _rates_to_increases(text: str, masked: str) -> str:
    starts = []
    for match in _RATE.finditer(masked):
        close = _closing_paren(masked, match.end() - 1)
        if close is not None and _ENDS_IN_WINDOW.search(masked[match.end():close]):
            starts.append(match.start())
    for start in reversed(starts):
        text = f"{text[:start]}increase{text[start + len('rate'):]}"
    return text


def _closing_paren(text: str, open_index: int) -> int | None:
    depth = 0
    for index in range(open_index, len(text)):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
            if depth == 0:
                return index
    return None


def slug(text: str) -> str:
    """Lowercase letters and digits, other runs as '-' (a display name → a name part)."""
    return _SLUG.sub("-", text.lower()).strip("-")[:63].strip("-")


def build_slo(
    found: Findings, fields: dict[str, Any], origins: Mapping[str, Loc], name_source: str
) -> InlineSLO | None:
    """Validate mapped fields as an InlineSLO; each error points back to the field of the imported file."""
    try:
        return InlineSLO.model_validate(fields)
    except ValidationError as err:
        for item in err.errors(include_url=False):
            path = tuple(str(part) for part in item["loc"])
            message = str(item["msg"]).removeprefix("Value error, ")
            if path[:1] == ("name",):
                message = _name_message(name_source, str(fields.get("name")), message)
            found.add(_origin(origins, path), message)
        return None


def _origin(origins: Mapping[str, Loc], path: tuple[str, ...]) -> Loc:
    for end in range(len(path), -1, -1):
        key = ".".join(path[:end])
        if key in origins:
            return origins[key]
    return ()


def _name_message(source: str, name: str, reason: str) -> str:
    suggestion = slug(name)
    hint = f", e.g. {suggestion!r}" if suggestion and suggestion != name else ""
    return (f"{source} {name!r} cannot name an SLO here ({reason}): rename it in this file{hint}; "
            "experiments refer to an imported SLO by this name, so it is never changed silently")
