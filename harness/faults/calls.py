"""Calls a fault makes to the outside: an HTTP request, a program (argv, never a shell), a Chaos Toolkit
activity. What they return is shown in results, so none of it carries a credential or a query string."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from harness.errors import FaultError
from harness.faults.base import FaultCheck

log = logging.getLogger(__name__)


def shown_url(url: str) -> str:
    """A URL as it may appear in logs, results and the journal: no credentials, no query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def http_call(call: Any, what: str) -> str:
    try:
        response = requests.request(call.method, call.url, headers=call.headers, json=call.body,
                                    timeout=call.timeout)
    except requests.RequestException as err:
        raise FaultError(f"{what}: {call.method} {shown_url(call.url)} failed: {type(err).__name__}") from err
    if response.status_code not in call.expect_status:
        raise FaultError(f"{what}: {call.method} {shown_url(call.url)} answered HTTP {response.status_code}, "
                         f"expected one of {list(call.expect_status)}")
    return f"{call.method} {shown_url(call.url)} → HTTP {response.status_code}"


def run_argv(argv: tuple[str, ...], timeout_s: float, what: str, cwd: Path) -> str:
    try:
        done = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError as err:
        raise FaultError(f"{what}: program {argv[0]!r} not found") from err
    except subprocess.TimeoutExpired as err:
        raise FaultError(f"{what}: {argv[0]} did not finish within {timeout_s:g}s") from err
    if done.returncode != 0:
        # its output is not shown: a command run with a token may print it (curl -v does)
        raise FaultError(f"{what}: {argv[0]} exited with {done.returncode}")
    return f"{argv[0]} exited 0"


def run_activity(activity: Mapping[str, Any], what: str) -> str:
    from chaoslib.activity import run_activity as ctk_run
    from chaoslib.exceptions import ActivityFailed

    try:
        result = ctk_run(dict(activity), {}, {})
    except ActivityFailed as err:
        raise FaultError(f"{what}: the Chaos Toolkit activity failed: {err}") from err
    except Exception as err:  # a provider's own exception: report it, never crash the run
        raise FaultError(f"{what}: the Chaos Toolkit activity raised {type(err).__name__}: {err}") from err
    log.debug("%s returned %r", what, result)
    return f"Chaos Toolkit activity {activity.get('name', '?')!r} ran"


NOT_VERIFIED = " (no verify: block, so its effect itself was not checked)"


def ran_unverified(details: Mapping[str, Any]) -> FaultCheck:
    """Honest about what is known: the call succeeded; whether the system changed needs `verify:`."""
    return FaultCheck(True, f"{details.get('result', '')}{NOT_VERIFIED}")
