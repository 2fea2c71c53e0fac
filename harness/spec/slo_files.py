"""Reading an SLO file: every SLO of a Sloth `prometheus/v1` or OpenSLO v1 file, or every problem at once."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import SpecError
from harness.spec.imports import Findings, Mapped
from harness.spec.models import InlineSLO
from harness.spec.openslo import openslo_slos
from harness.spec.sloth import sloth_slos
from harness.spec.source import Document, DocumentError, Problem, read_all_documents, substitute_env


def import_slos(path: Path, environ: Mapping[str, str] | None = None) -> list[InlineSLO]:
    """Every SLO of a Sloth `prometheus/v1` or OpenSLO v1 file; SpecError listing every problem otherwise."""
    try:
        documents = read_all_documents(path)
    except DocumentError as err:
        raise SpecError([err.problem.render()]) from None
    problems: list[Problem] = []
    mapped: list[Mapped] = []
    openslo_objects: list[tuple[Any, Findings]] = []
    for raw in documents:
        data, missing = substitute_env(raw, environ)
        problems.extend(missing)
        found = Findings(Document(raw.path, data, raw.lines), problems)
        kind = _format_of(data, found)
        if kind == "sloth":
            mapped.extend(sloth_slos(data, found))
        elif kind == "openslo":
            if isinstance(data, list):
                openslo_objects.extend((item, found.within((index,))) for index, item in enumerate(data))
            else:
                openslo_objects.append((data, found))
    if openslo_objects:
        mapped.extend(openslo_slos(openslo_objects))
    _check_unique(mapped)
    if not mapped and not problems:
        problems.append(Problem(path, (), "no SLO in this file: a Sloth file lists them under 'slos', "
                                "an OpenSLO file has documents of kind SLO"))
    if problems:
        ordered = sorted(problems, key=lambda problem: problem.line or 0)  # stable: same line keeps its order
        raise SpecError([problem.render() for problem in ordered])
    return [item.slo for item in mapped]


def _format_of(data: Any, found: Findings) -> str | None:
    if isinstance(data, list):
        return "openslo"
    if isinstance(data, dict) and "version" in data:
        if data["version"] == "prometheus/v1":
            return "sloth"
        found.add(("version",), f"unsupported Sloth spec version {data['version']!r}: expected prometheus/v1")
        return None
    api = data.get("apiVersion") if isinstance(data, dict) else None
    if isinstance(api, str) and api.startswith("openslo/"):
        return "openslo"
    if isinstance(api, str) and api.startswith("sloth.slok.dev/"):
        found.add(("apiVersion",), "Sloth's Kubernetes PrometheusServiceLevel is not supported: import "
                  "the same SLOs as a Sloth 'version: prometheus/v1' file")
        return None
    found.add((), "not a Sloth (version: prometheus/v1) or OpenSLO (apiVersion: openslo/v1) document")
    return None


def _check_unique(mapped: list[Mapped]) -> None:
    first: dict[str, Mapped] = {}
    for item in mapped:
        earlier = first.setdefault(item.slo.name, item)
        if earlier is item:
            continue
        line = earlier.found.doc.line_of((*earlier.found.prefix, *earlier.name_loc))
        item.found.add(item.name_loc, f"SLO name {item.slo.name!r} is already used by {earlier.origin} "
                       f"(line {line}); imported SLOs are told apart by name alone: rename one of them")
