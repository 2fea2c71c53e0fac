"""From a parsed document to a typed model: every validation problem with its file, line and field."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from harness.errors import SpecError
from harness.spec.source import (
    Document,
    DocumentError,
    EnvReferences,
    Loc,
    Problem,
    env_references,
    mask_env,
    read_document,
    substitute_env,
)
from harness.spec.units import BareNumberError, bare_number_message, format_duration

M = TypeVar("M", bound=BaseModel)

DURATION_FIELDS = ("delay", "duration", "jitter", "window", "within", "at")


def _problems_from_validation(doc: Document, err: ValidationError, known: list[Problem]) -> list[Problem]:
    items = err.errors(include_url=False)
    locs = [_data_loc(doc.data, tuple(item["loc"]), item["type"] == "missing") for item in items]
    taken = {problem.loc for problem in known}
    problems = []
    for item, loc in zip(items, locs, strict=True):
        nested = any(other != loc and other[: len(loc)] == loc for other in locs)
        if loc in taken or (item["type"] == "too_short" and nested):
            continue  # already explained (a missing variable, or the item that failed inside the list)
        if item["type"] == "fault_type":
            loc = (*loc, "type")
        message = str(item["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling: unknown fields are errors)"
        elif item["type"] == "missing":
            message = "required field is missing"
        elif item["type"] == "literal_error":
            message = f"expected {item['ctx']['expected']}, got {item['input']!r}"
        elif item["type"] == "fault_type" and isinstance(item["input"], dict):
            message += f", got {item['input'].get('type')!r}"
        elif item["type"] == "string_pattern_mismatch":
            message = f"use only letters, digits, '_', '.' and '-', got {item['input']!r}"
        elif isinstance((item.get("ctx") or {}).get("error"), BareNumberError):
            field = next((part for part in reversed(loc) if isinstance(part, str)), None)
            message = bare_number_message(item["ctx"]["error"].value, field)
        elif item["type"] == "less_than_equal" and loc and loc[-1] in DURATION_FIELDS:
            message = f"must be at most {format_duration(float(item['ctx']['le']))}, got {item['input']!r}"
        problems.append(Problem(doc.path, loc, message, doc.line_of(loc)))
    return problems


def _data_loc(data: Any, loc: tuple[Any, ...], missing: bool) -> Loc:
    """Drop the union tags pydantic puts into an error's location, keeping the file's own keys.

    A last part that is not in the file is the name of a missing field, or else the tag of the union
    member whose own check failed (`faults[0]`, not `faults[0].pod-kill`).
    """
    kept: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            kept.append(part)
            node = node[part]
        elif isinstance(node, dict) and part in node:
            if index < len(loc) - 1 and not isinstance(node[part], dict | list):
                continue  # a union tag spelled like the key it is told apart by (`recovers: slo`)
            kept.append(part)
            node = node[part]
        elif isinstance(node, dict) and index == len(loc) - 1 and missing:
            kept.append(part)
        elif isinstance(part, str) and not isinstance(node, dict | list):
            break
    return tuple(kept)


def rendered(problems: list[Problem], references: EnvReferences) -> list[str]:
    return [mask_env(problem, references).render() for problem in problems]


def parse_model(doc: Document, model: type[M], environ: Mapping[str, str] | None = None) -> M:
    """Substitute environment variables and validate; SpecError with every problem otherwise.

    Messages never show a value that came from the environment (it may be a secret): `${VAR}` stays.
    """
    data, problems = substitute_env(doc, environ)
    references = env_references(doc.data, environ)
    if not isinstance(data, dict):
        problems.append(Problem(doc.path, (), "expected a mapping of fields at the top level", 1))
        raise SpecError(rendered(problems, references))
    try:
        result = model.model_validate(data)
    except ValidationError as err:
        problems.extend(_problems_from_validation(Document(doc.path, data, doc.lines), err, problems))
        raise SpecError(rendered(problems, references)) from None
    if problems:
        raise SpecError(rendered(problems, references))
    return result


def read(path: Path) -> Document:
    try:
        return read_document(path)
    except DocumentError as err:
        raise SpecError([err.problem.render()]) from None
