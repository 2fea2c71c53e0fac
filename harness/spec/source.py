"""Reading YAML/JSON files with the line of every field, and `${ENV}` substitution."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

Loc = tuple[str | int, ...]
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, located as precisely as we can."""

    path: Path
    loc: Loc
    message: str
    line: int | None = None

    def render(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        field_path = format_loc(self.loc)
        return f"{where} {field_path}: {self.message}" if field_path else f"{where}: {self.message}"


@dataclass(frozen=True)
class Document:
    """A parsed file: its data and the line where each field path starts."""

    path: Path
    data: Any
    lines: Mapping[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        for end in range(len(loc), -1, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return None


def format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _index_lines(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                lines[(*loc, key.value)] = key.start_mark.line + 1
                _index_lines(value, (*loc, key.value), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*loc, index), lines)


def read_document(path: Path) -> Document:
    """Parse one YAML or JSON file; raise DocumentError with the file and line on bad syntax."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DocumentError(Problem(path, (), "file not found")) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DocumentError(Problem(path, (), f"cannot read the file: {err}")) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise DocumentError(Problem(path, (), f"not valid YAML: {err.problem}", line)) from None
    except yaml.YAMLError as err:
        raise DocumentError(Problem(path, (), f"not valid YAML: {err}")) from None
    lines: dict[Loc, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return Document(path, data, lines)


def read_all_documents(path: Path) -> list[Document]:
    """A multi-document YAML file (OpenSLO keeps several kinds in one file), one Document each."""
    try:
        text = path.read_text(encoding="utf-8")
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        datas = list(yaml.safe_load_all(text))
    except FileNotFoundError:
        raise DocumentError(Problem(path, (), "file not found")) from None
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise DocumentError(Problem(path, (), f"not valid YAML: {err.problem}", line)) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise DocumentError(Problem(path, (), f"cannot read the file: {err}")) from None
    documents = []
    for node, data in zip(nodes, datas, strict=True):
        if data is None:
            continue
        lines: dict[Loc, int] = {}
        _index_lines(node, (), lines)
        documents.append(Document(path, data, lines))
    return documents


class DocumentError(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(problem.render())


def substitute_env(doc: Document, environ: Mapping[str, str] | None = None) -> tuple[Any, list[Problem]]:
    """Replace `${VAR}` in every string; each missing variable is a problem naming it."""
    env = os.environ if environ is None else environ
    problems: list[Problem] = []

    def walk(value: Any, loc: Loc) -> Any:
        if isinstance(value, str):
            def replace(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in env:
                    problems.append(Problem(doc.path, loc, f"environment variable {name} is not set "
                                            f"(export {name}=... before running)", doc.line_of(loc)))
                    return ""
                return env[name]
            return _ENV.sub(replace, value)
        if isinstance(value, dict):
            return {key: walk(item, (*loc, str(key))) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*loc, index)) for index, item in enumerate(value)]
        return value

    return walk(doc.data, ()), problems


EnvReferences = Mapping[Loc, Mapping[str, str]]


def env_references(data: Any, environ: Mapping[str, str] | None = None) -> EnvReferences:
    """Every string field that uses `${VAR}`: {substituted value: "${VAR}"} for the variables that are set."""
    env = os.environ if environ is None else environ
    found: dict[Loc, dict[str, str]] = {}

    def walk(value: Any, loc: Loc) -> None:
        if isinstance(value, str):
            masks = {env[m.group(1)]: m.group(0) for m in _ENV.finditer(value) if env.get(m.group(1))}
            if masks:
                found[loc] = masks
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*loc, str(key)))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*loc, index))

    walk(data, ())
    return found


def mask_env(problem: Problem, references: EnvReferences) -> Problem:
    """Put `${VAR}` back in place of its value in a message about that field: values may be secrets."""
    masks: dict[str, str] = {}
    for loc, pairs in references.items():
        if loc[: len(problem.loc)] == problem.loc or problem.loc[: len(loc)] == loc:
            masks.update(pairs)
    message = problem.message
    for value in sorted(masks, key=len, reverse=True):
        for spelling in (value, repr(value)[1:-1]):  # as written, and as quoted by `!r`
            message = message.replace(spelling, masks[value])
    return problem if message == problem.message else replace(problem, message=message)
