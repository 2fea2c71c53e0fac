"""The layout follows the data flow: each package imports only the packages below it, never in a circle.

`ALLOWED` is the table in the README's architecture section; a new import that breaks it fails here
with the module that made it, so the structure cannot drift silently.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import get_args

import pytest

from harness.faults import types
from harness.faults.base import FaultContext, FaultType, Prepared
from harness.faults.builtin import BUILT_IN
from harness.spec.faults import FaultBase

HARNESS = Path(__file__).resolve().parents[1] / "harness"
ROOT = "harness"  # the package itself: only its __version__

ALLOWED: dict[str, frozenset[str]] = {
    name: frozenset(deps) for name, deps in {
        "errors": (),
        "logs": (),
        "promql": (),
        "procs": ("errors",),
        "spec": ("errors", "promql"),
        "load": ("errors", "procs"),
        "prom": ("errors", "procs", "promql", ROOT),
        "plan": ("load", "promql", "spec"),
        "platform": ("errors", "procs", "prom", "spec", ROOT),
        "faults": ("errors", "platform", "procs", "prom", "spec"),
        "evidence": ("errors", "plan", "prom", "promql", "spec"),
        "judge": ("evidence", "load", "spec"),
        "rules": ("errors", "promql", "spec"),
        "remediation": ("errors", "faults", "prom", "spec"),
        "result": ("errors", "judge"),
        "history": ("errors", "result"),
        "run": ("errors", "evidence", "faults", "judge", "load", "plan", "platform", "prom", "promql",
                "remediation", "result", "rules", "spec"),
        "reports": ("history", "judge", "load", "plan", "result", "run", "spec"),
        "api": ("errors", "faults", "plan", "result", "run", "spec"),
        "gate": ("api", "errors", "history", "judge", "plan", "reports", "result", "run", "spec"),
        "cli": ("api", "errors", "faults", "gameday", "gate", "history", "judge", "logs", "plan", "remediation",
                "reports", "result", "rules", "run", "spec",
                ROOT),
        "gameday": ("api", "errors", "evidence", "gate", "judge", "plan", "prom", "reports", "result", "run", "spec"),
        "pytest_plugin": ("api", "errors", "reports", "result", "run", "spec"),
        "__main__": ("cli",),
    }.items()
}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def _imports(path: Path) -> Iterator[str]:
    """Every harness module this file imports, at the top or inside a function."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == ROOT:
            if node.module == ROOT:  # `from harness import procs` imports harness.procs
                yield from (f"{ROOT}.{alias.name}" if alias.name != "__version__" else ROOT for alias in node.names)
            else:
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.split(".")[0] == ROOT)


def package_imports() -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) → the modules that make that import."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(HARNESS.rglob("*.py")):
        module = ".".join((ROOT, *path.relative_to(HARNESS).with_suffix("").parts)).removesuffix(".__init__")
        source = _package(module)
        for imported in _imports(path):
            target = _package(imported)
            if target != source:
                found.setdefault((source, target), []).append(module)
    return found


def test_every_package_imports_only_what_the_layering_allows() -> None:
    edges = package_imports()
    assert edges, "no imports found: the test is not reading the package"
    unknown = sorted({source for source, _ in edges} - set(ALLOWED))
    assert not unknown, f"packages missing from ALLOWED (and the README's table): {unknown}"
    breaking = {f"{source} → {target}": modules for (source, target), modules in edges.items()
                if target not in ALLOWED[source]}
    assert not breaking, f"imports against the layering: {breaking}"


def test_the_layering_has_no_cycle() -> None:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' → '.join((*path, name))}"
        if name in done:
            return
        for dep in ALLOWED.get(name, frozenset()):
            visit(dep, (*path, name))
        done.add(name)

    for name in ALLOWED:
        visit(name, ())
    assert done >= set(ALLOWED)


def test_each_built_in_fault_type_is_declared_once_with_the_model_its_name_tags() -> None:
    names = [declared.name for declared in BUILT_IN]
    assert len(names) == len(set(names))
    for declared in BUILT_IN:
        assert get_args(declared.model.model_fields["type"].annotation) == (declared.name,), declared.name
        assert declared.model.platforms, f"{declared.name}: its model names no platforms"
        assert types.fault_type(declared.name) is declared
    # the commands that are undone by re-reading the file declare how
    assert {d.name for d in BUILT_IN if d.stop is not None} == {"http", "process", "chaostoolkit"}


def test_a_fault_type_may_declare_one_driver_per_platform() -> None:
    def on_local(fault: FaultBase, ctx: FaultContext) -> Prepared:
        raise AssertionError("not called")

    declared = FaultType("demo", BUILT_IN[0].model, {"local": on_local})
    assert declared.driver_for("local") is on_local
    assert declared.driver_for("kubernetes") is None
    assert replace(declared, prepare=on_local).driver_for("kubernetes") is on_local


@pytest.mark.parametrize("package", sorted(set(ALLOWED) - {"__main__"}))
def test_the_readme_states_what_each_package_may_import(package: str) -> None:
    readme = (HARNESS.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Architecture"):readme.index("## Development")]
    row = next((line for line in section.splitlines() if line.startswith(f"| `{package}` |")), None)
    assert row is not None, f"{package} has no row in the README's layering table"
    stated = {word.strip(" `") for word in row.split("|")[3].split(",") if word.strip(" `-—")}
    assert stated == set(ALLOWED[package]), f"README row of {package} says {sorted(stated)}"
