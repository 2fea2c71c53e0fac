"""Writing result.json atomically and reading it back into a RunResult."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import ValidationError

from harness.errors import SpecError
from harness.result.model import RunResult

RESULT_NAME = "result.json"


def write_run_result(result: RunResult, run_dir: Path) -> Path:
    path = run_dir / RESULT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.document(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_result(path: Path) -> RunResult:
    """A result.json (or the run folder holding one) as a RunResult; a clear SpecError when it is not one."""
    file = path / RESULT_NAME if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError([f"{file}: no such result file (a run folder holds {RESULT_NAME})"]) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SpecError([f"{file}: not a readable result file: {err}"]) from None
    if not isinstance(data, dict):
        raise SpecError([f"{file}: not a result file: expected a JSON object"])
    try:
        return RunResult.model_validate(data)
    except ValidationError as err:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:5])
        raise SpecError([f"{file}: not a result file of this harness: {fields}"]) from None
