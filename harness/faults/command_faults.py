"""Faults that call out: an HTTP start/stop pair, a process start/stop pair, a Chaos Toolkit activity."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from typing import Any

from harness.faults import undo
from harness.faults.base import FaultCheck, FaultContext, Prepared
from harness.spec.faults import ChaosToolkit, HttpFault, ProcessFault

MAX_TARGET_CHARS = 60
MASK = "***"
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH", re.IGNORECASE)
# Inside a longer word only values this long are masked: a short one ("on", "1") would mask half the
# command line; a word equal to a secret value is masked whatever its length.
_MIN_EMBEDDED_CHARS = 6
def secret_values(ctx: FaultContext) -> tuple[str, ...]:
    """Values that must never be shown: those of secret-looking variables, and any environment value an
    argv word equals (it may have been substituted from `${VAR}`; masking a harmless one costs nothing)."""
    environ = {**os.environ, **ctx.environ}
    named = {v for k, v in environ.items() if v and _SECRET_NAME.search(k)}
    whole = {f"={v}" for v in environ.values() if len(v) >= _MIN_EMBEDDED_CHARS} - {f"={v}" for v in named}
    # "=value" marks a value masked only where a whole word equals it
    return tuple(sorted(named, key=len, reverse=True)) + tuple(sorted(whole))


def masked(text: str, secrets: tuple[str, ...]) -> str:
    if text in secrets or f"={text}" in secrets:
        return MASK
    for secret in secrets:
        if len(secret) >= _MIN_EMBEDDED_CHARS and not secret.startswith("="):
            text = text.replace(secret, MASK)
    return text


def compact(text: str) -> str:
    return text if len(text) <= MAX_TARGET_CHARS else text[:MAX_TARGET_CHARS - 1] + "…"


def shown_argv(argv: tuple[str, ...], secrets: tuple[str, ...]) -> str:
    """An argv as one short line: secrets masked, arguments with spaces quoted, capped in length."""
    words = [masked(word, secrets) for word in argv]
    return compact(" ".join(shlex.quote(w) if (not w or any(c.isspace() for c in w)) else w for w in words))


NOT_VERIFIED = " (no verify: block, so its effect itself was not checked)"


def _ran(details: Mapping[str, Any]) -> FaultCheck:
    # Honest about what is known: the command succeeded; whether the system changed needs `verify:`.
    return FaultCheck(True, f"{details.get('result', '')}{NOT_VERIFIED}")


def prepare_http(fault: HttpFault, ctx: FaultContext) -> Prepared:
    def apply() -> Mapping[str, Any]:
        return {"result": undo.http_call(fault.start, f"{fault.name} start")}

    recipe = undo.experiment_fault(ctx.experiment_path, ctx.fault_index, fault.name)
    return Prepared((undo.shown_url(fault.start.url),), recipe, apply, _ran)


def prepare_process(fault: ProcessFault, ctx: FaultContext) -> Prepared:
    def apply() -> Mapping[str, Any]:
        return {"result": undo.run_argv(fault.start, fault.timeout, f"{fault.name} start",
                                        ctx.experiment_path.parent)}

    return Prepared((shown_argv(fault.start, secret_values(ctx)),),
                    undo.experiment_fault(ctx.experiment_path, ctx.fault_index, fault.name), apply, _ran)


def prepare_chaostoolkit(fault: ChaosToolkit, ctx: FaultContext) -> Prepared:
    recipe = undo.experiment_fault(ctx.experiment_path, ctx.fault_index, fault.name) if fault.rollback else None

    def apply() -> Mapping[str, Any]:
        return {"result": undo.run_activity(fault.action, f"{fault.name} action")}

    provider = fault.action.get("provider")
    # module.func only: arguments are the file's, and may hold what a reader should not see
    target = (f"{provider.get('module', '?')}.{provider.get('func', '?')}" if isinstance(provider, Mapping)
              and provider.get("type") == "python" else str(fault.action.get("name", "activity")))
    return Prepared((target,), recipe, apply, _ran)
