"""Undo recipes: plain JSON that says how to revert a fault, written to the journal before it is applied.

Secrets never go into a recipe: faults configured from the experiment file (http, process,
chaostoolkit, most registered types) get an "experiment-fault" recipe and are undone by re-reading
that file, so `${TOKEN}` is resolved again from the environment at rollback time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.procs import start_time

Recipe = Mapping[str, Any]
"""A JSON-serialisable description of how to undo a fault, replayable by `harness rollback`."""


def proxy_fault(url: str, name: str) -> Recipe:
    """Remove fault `name` from the local platform's fault proxy."""
    return {"kind": "proxy-fault", "url": url, "name": name}


def resume(pids: list[int]) -> Recipe:
    """SIGCONT these processes (only if each PID still belongs to the process that was paused)."""
    return {"kind": "resume", "pids": pids, "start_times": [start_time(pid) for pid in pids]}


def kill_group(pids: list[int]) -> Recipe:
    """SIGKILL the process groups these processes lead (a fault's own helper, e.g. stress-ng)."""
    return {"kind": "kill-group", "pids": pids, "start_times": [start_time(pid) for pid in pids]}


def experiment_fault(experiment: Path, index: int, name: str) -> Recipe:
    """Run the `stop` of fault `index` as the experiment file declares it (its FaultType's `stop`)."""
    return {"kind": "experiment-fault", "experiment": str(experiment), "fault_index": index, "fault_name": name}


def identified(recipe: Recipe) -> list[tuple[int, int | None]]:
    """(pid, start time) pairs; a recipe from before start times were recorded has None."""
    pids = [int(p) for p in recipe["pids"]]
    times = list(recipe.get("start_times") or [None] * len(pids))
    return list(zip(pids, times + [None] * (len(pids) - len(times)), strict=False))
