"""The rollback journal: written before every injection, so a crashed run can still be undone.

One JSON object per line in `<run dir>/rollback.jsonl`, flushed and fsynced as it is written:
`intent` (what is about to be done and how to undo it), `applied` (or `apply-failed`: never
applied, nothing to roll back), then `reverted` or `revert-failed`. `harness rollback RUN_DIR`
replays the undo of every fault not yet reverted.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.faults.base import Recipe
from harness.faults.undo import apply_undo

JOURNAL_NAME = "rollback.jsonl"


class Journal:
    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / JOURNAL_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: str, fault: str, **fields: Any) -> None:
        entry = {"event": event, "fault": fault, "time": time.time(), **fields}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


@dataclass(frozen=True)
class Pending:
    fault: str
    undo: Recipe


def pending(run_dir: Path) -> list[Pending]:
    """Faults whose undo has not succeeded yet, newest first (reverted in reverse order)."""
    path = run_dir / JOURNAL_NAME
    if not path.is_file():
        return []
    recipes: dict[str, list[Recipe]] = {}
    order: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a crash mid-write: the intent before it still stands
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("fault"))
        undo = entry.get("undo")
        if entry.get("event") in ("intent", "applied") and isinstance(undo, dict) and "kind" in undo:
            recipes.setdefault(name, []).append(entry["undo"])
            if name not in order:
                order.append(name)
        elif entry.get("event") == "reverted" or (entry.get("event") == "apply-failed" and entry.get("cleaned")):
            # a failed injection was never applied, and its best-effort undo already ran
            recipes.pop(name, None)
    return [Pending(name, recipe) for name in reversed(order) for recipe in reversed(recipes.get(name, []))]


@dataclass(frozen=True)
class RollbackOutcome:
    fault: str
    ok: bool
    message: str


def rollback(run_dir: Path, environ: Mapping[str, str] | None = None) -> list[RollbackOutcome]:
    """Undo whatever a run left behind; running it again finds nothing left to do."""
    journal = Journal(run_dir)
    outcomes = []
    by_fault: dict[str, list[str]] = {}
    for item in pending(run_dir):
        try:
            message = apply_undo(item.undo, environ)
        except Exception as err:  # one broken undo must not stop the others from being undone
            journal.write("revert-failed", item.fault, error=str(err), by="harness rollback")
            outcomes.append(RollbackOutcome(item.fault, False, str(err)))
            by_fault.setdefault(item.fault, []).append("failed")
            continue
        outcomes.append(RollbackOutcome(item.fault, True, message))
        by_fault.setdefault(item.fault, [])
    for fault, failures in by_fault.items():
        if not failures:
            journal.write("reverted", fault, result="undone by harness rollback")
    return outcomes
