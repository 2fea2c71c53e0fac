"""A small Prometheus HTTP API client that reads the whole answer envelope.

Libraries that return only `data.result` drop `warnings` and `resultType`, which a verdict that
must fail closed needs. Every failure is an EvidenceError naming the URL (without credentials),
the query and Prometheus's own error text; header values (tokens) never leave this module.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

import requests  # type: ignore[import-untyped,unused-ignore]

from harness.errors import EvidenceError

log = logging.getLogger(__name__)

T = TypeVar("T")

_RETRY_STATUSES = frozenset({502, 503, 504})
# Longer query strings go in a POST form: proxies cap URL length around 4-8 KiB.
_MAX_GET_QUERY = 2000


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    """One element of a range vector: (unix time, value) points in time order."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class QueryAnswer:
    """A parsed answer: exactly one of vector, matrix, scalar or string is meaningful."""

    query: str
    at: float | None
    result_type: str
    vector: tuple[Sample, ...] = ()
    matrix: tuple[Series, ...] = ()
    scalar: float | None = None
    warnings: tuple[str, ...] = ()
    elapsed_s: float = 0.0
    string: str | None = None
    infos: tuple[str, ...] = ()
    start: float | None = None
    end: float | None = None
    step_s: float | None = None


@dataclass(frozen=True)
class _Envelope:
    data: Any
    warnings: tuple[str, ...]
    infos: tuple[str, ...]
    elapsed_s: float


@dataclass(frozen=True)
class _Call:
    """What one API call was for, so every error can say it."""

    path: str
    params: Mapping[str, str]
    query: str | None = None
    allow_post: bool = False


class PromClient:
    """Queries one PromQL-compatible HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics)."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        *,
        retries: int = 2,
        backoff_s: float = 0.25,
    ) -> None:
        headers = dict(headers or {})
        parts = urlsplit(url.rstrip("/"))
        self._base = _without_credentials(url.rstrip("/"))
        self._shown = self._base
        self._secrets = tuple(v for v in (*headers.values(), parts.password) if v)
        self._header_names = tuple(sorted(headers))
        self._timeout_s = timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._memo: dict[Hashable, object] | None = None
        self._session = requests.Session()
        # Answers are small and local: compressing each one costs more time than it saves.
        self._session.headers["Accept-Encoding"] = "identity"
        self._session.headers.update(headers)
        # Credentials in the URL become basic auth, unless an explicit Authorization header wins.
        if parts.username is not None and "authorization" not in {k.lower() for k in headers}:
            self._session.auth = (unquote(parts.username), unquote(parts.password or ""))

    def __repr__(self) -> str:
        return f"PromClient(url={self._shown!r}, headers={list(self._header_names)!r})"

    @property
    def url(self) -> str:
        """The base URL without credentials, for messages and reports."""
        return self._shown

    def close(self) -> None:
        self._session.close()

    def query(self, promql: str, at: float) -> QueryAnswer:
        """Instant query evaluated at `at` (always pinned: two queries of one verdict share a time)."""
        key = ("query", promql, _ts(at))
        if self._memo is not None and key in self._memo:
            return cast(QueryAnswer, self._memo[key])
        answer = self._instant(promql, at)
        if self._memo is not None:
            self._memo[key] = answer
        return answer

    def read(self, promql: str, at: float) -> QueryAnswer:
        """An instant query that memo() never keeps: for raw samples, which are many and read once
        (holding millions of them until judging ends costs memory and makes every garbage collection
        walk them)."""
        return self._instant(promql, at)

    @contextlib.contextmanager
    def memo(self) -> Iterator[None]:
        """Within the block, an instant query pinned in the past is asked once: judging many SLOs over
        the same windows repeats the same health and count queries, and their answers cannot change."""
        self._memo = {}
        try:
            yield
        finally:
            self._memo = None

    def remembered(self, key: Hashable, compute: Callable[[], T]) -> T:
        """Within memo(), what `compute` derives from queries pinned in the past is computed once per
        key (an exact count shared by SLOs with the same total); outside it, every time."""
        if self._memo is None:
            return compute()
        memo_key = ("derived", key)
        if memo_key not in self._memo:
            self._memo[memo_key] = compute()
        return cast(T, self._memo[memo_key])

    def query_range(self, promql: str, start: float, end: float, step_s: float) -> QueryAnswer:
        params = {"query": promql, "start": _ts(start), "end": _ts(end), "step": f"{step_s:g}"}
        call = _Call("/api/v1/query_range", params, promql, allow_post=True)
        return self._answer(call, QueryAnswer(promql, None, "", start=start, end=end, step_s=step_s))

    def label_values(self, label: str, match: str, start: float, end: float) -> list[str]:
        params = {"match[]": match, "start": _ts(start), "end": _ts(end)}
        call = _Call(f"/api/v1/label/{label}/values", params, match)
        data = self._call(call).data
        if not isinstance(data, list):
            raise self._error(call, f"expected a list of label values, got {type(data).__name__}")
        return [str(v) for v in data]

    def metric_names(self, start: float, end: float) -> list[str]:
        """Every metric name with samples in [start, end]."""
        call = _Call("/api/v1/label/__name__/values", {"start": _ts(start), "end": _ts(end)})
        data = self._call(call).data
        if not isinstance(data, list):
            raise self._error(call, f"expected a list of metric names, got {type(data).__name__}")
        return [str(v) for v in data]

    def targets(self) -> list[Mapping[str, Any]]:
        """Active scrape targets as Prometheus describes them (labels, health, lastError...)."""
        call = _Call("/api/v1/targets", {"state": "active"})
        data = self._call(call).data
        active = data.get("activeTargets") if isinstance(data, dict) else None
        if not isinstance(active, list):
            raise self._error(call, "the answer has no data.activeTargets list")
        return [t for t in active if isinstance(t, dict)]

    def firing_alerts(self) -> list[Mapping[str, Any]]:
        call = _Call("/api/v1/alerts", {})
        data = self._call(call).data
        alerts = data.get("alerts") if isinstance(data, dict) else None
        if not isinstance(alerts, list):
            raise self._error(call, "the answer has no data.alerts list")
        return [a for a in alerts if isinstance(a, dict) and a.get("state") == "firing"]

    def check_reachable(self) -> None:
        """Raise EvidenceError unless the API answers; backends without buildinfo get a trivial query."""
        call = _Call("/api/v1/status/buildinfo", {})
        try:
            data = self._call(call).data
        except EvidenceError as err:
            if "HTTP 404" not in str(err):
                raise
            self.query("vector(1)", time.time())
            return
        if isinstance(data, dict):
            log.debug("Prometheus at %s: version %s", self._shown, data.get("version"))

    # -- transport -------------------------------------------------------------------------------

    def _instant(self, promql: str, at: float) -> QueryAnswer:
        call = _Call("/api/v1/query", {"query": promql, "time": _ts(at)}, promql, allow_post=True)
        return self._answer(call, QueryAnswer(promql, at, ""))

    def _answer(self, call: _Call, base: QueryAnswer) -> QueryAnswer:
        envelope = self._call(call)
        data = envelope.data if isinstance(envelope.data, dict) else {}
        kind = str(data.get("resultType"))
        base = replace(
            base,
            result_type=kind,
            warnings=envelope.warnings,
            infos=envelope.infos,
            elapsed_s=envelope.elapsed_s,
        )
        try:
            return _parse_result(base, data.get("result"))
        except (TypeError, ValueError, KeyError, IndexError) as err:
            raise self._error(call, f"the {kind} result cannot be read: {err}") from err

    def _call(self, call: _Call) -> _Envelope:
        started = time.monotonic()
        response = self._send_with_retries(call)
        elapsed = time.monotonic() - started
        body = self._body(call, response)
        warnings = tuple(str(w) for w in body.get("warnings") or ())
        infos = tuple(str(i) for i in body.get("infos") or ())
        if warnings:
            log.warning("Prometheus at %s warned on %r: %s", self._shown, call.query, "; ".join(warnings))
        return _Envelope(body.get("data"), warnings, infos, elapsed)

    def _send_with_retries(self, call: _Call) -> requests.Response:
        attempts = self._retries + 1
        for attempt in range(1, attempts + 1):
            try:
                response = self._send(call)
            except requests.ConnectionError as err:
                if attempt == attempts:
                    raise self._error(
                        call,
                        f"cannot connect after {attempts} attempts ({_reason(err)}); "
                        f"is Prometheus running at {self._shown}?",
                    ) from err
            except requests.Timeout as err:
                raise self._error(
                    call, f"no answer within {self._timeout_s:g} s; is the query too heavy?"
                ) from err
            except requests.RequestException as err:
                raise self._error(call, f"request failed: {_reason(err)}") from err
            else:
                if response.status_code not in _RETRY_STATUSES or attempt == attempts:
                    return response
            delay = self._backoff_s * 2 ** (attempt - 1)
            log.info("Prometheus at %s: attempt %d failed, retrying in %.2f s", self._shown, attempt, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, call: _Call) -> requests.Response:
        url = self._base + call.path
        if call.allow_post and len(urlencode(call.params)) > _MAX_GET_QUERY:
            return self._session.post(url, data=dict(call.params), timeout=self._timeout_s)
        return self._session.get(url, params=dict(call.params), timeout=self._timeout_s)

    def _body(self, call: _Call, response: requests.Response) -> dict[str, Any]:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            kind = response.headers.get("Content-Type", "no content type")
            reason = f"HTTP {status} with a body that is not a Prometheus API answer ({kind})"
            raise self._error(call, reason + _hint(status, self._shown))
        if status == 200 and body.get("status") == "success":
            return body
        detail = f"{body.get('errorType') or 'error'}: {body.get('error') or 'no error text'}"
        raise self._error(call, f"HTTP {status}, {detail}{_hint(status, self._shown)}")

    def _error(self, call: _Call, reason: str) -> EvidenceError:
        what = f"query {call.query!r}" if call.query is not None else call.path
        message = f"Prometheus at {self._shown} failed on {what}: {reason}"
        return EvidenceError(self._scrub(message))

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _parse_result(base: QueryAnswer, result: Any) -> QueryAnswer:
    kind = base.result_type
    if kind == "vector":
        vector = tuple(Sample(_labels(r), _value(r["value"][1])) for r in result)
        return replace(base, vector=vector)
    if kind == "matrix":
        matrix = tuple(
            Series(_labels(r), tuple((float(t), _value(v)) for t, v in r["values"])) for r in result
        )
        return replace(base, matrix=matrix)
    if kind == "scalar":
        return replace(base, scalar=_value(result[1]))
    if kind == "string":
        return replace(base, string=str(result[1]))
    raise ValueError(f"unknown resultType {kind!r}")


def _labels(item: Mapping[str, Any]) -> dict[str, str]:
    metric = item.get("metric") or {}
    if "value" not in item and "values" not in item:
        # Native histogram samples come as "histogram"/"histograms"; they carry no float value.
        raise ValueError("sample without a float value (native histograms are not supported)")
    return {str(k): str(v) for k, v in metric.items()}


def _value(text: Any) -> float:
    """Prometheus sends sample values as strings, including "NaN", "+Inf" and "-Inf"."""
    if not isinstance(text, str):
        raise ValueError(f"sample value {text!r} is not a string")
    value = float(text)
    if math.isnan(value) and text != "NaN":
        raise ValueError(f"unexpected sample value {text!r}")
    return value


def _ts(seconds: float) -> str:
    return f"{seconds:.3f}"


def _hint(status: int, shown: str) -> str:
    if status in (401, 403):
        return "; check the prometheus.headers of the experiment"
    if status in (200, 404):
        return f"; is {shown} the Prometheus API base (without /api/v1)?"
    return ""


def _reason(err: BaseException) -> str:
    # The innermost cause reads best ("Connection refused"), not urllib3's pool description.
    inner: BaseException = err
    for _ in range(10):
        if inner.__context__ is None:
            break
        inner = inner.__context__
    return (str(inner) or type(inner).__name__)[:200]


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
