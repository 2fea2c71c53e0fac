"""What a command fault may show of itself: secrets masked, long argv lines shortened."""

from __future__ import annotations

import os
import re
import shlex

from harness.faults.base import FaultContext

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
