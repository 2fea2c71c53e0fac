"""Chaos Toolkit python-provider activities for the tests: they leave or remove a marker file.

Chaos Toolkit imports this module by its dotted path, `tests.faults.ctk_probe_module`.
"""

from __future__ import annotations

from pathlib import Path


def create_marker(path: str, text: str = "on") -> str:
    Path(path).write_text(text)
    return f"wrote {path}"


def remove_marker(path: str) -> str:
    Path(path).unlink(missing_ok=True)
    return f"removed {path}"


def explode(message: str) -> None:
    raise RuntimeError(message)
