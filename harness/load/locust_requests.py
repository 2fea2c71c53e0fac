"""Locustfile side: the built-in user made from the plan's request list (used without a user locustfile).

The plan's `client` picks its base: `requests` an HttpUser (python-requests), `fasthttp` a FastHttpUser
(geventhttpclient, far less CPU per request). Both count a status >= 400 or a connection error as a
failure, and neither resends a request whose connection broke before the answer, so client-side
failures stay visible: HttpUser never does (requests' default is no retries), and the FastHttpUser here
sends each request once (`SingleAttemptClient`), where plain geventhttpclient resends an idempotent
request on a new connection when its pooled keep-alive connection closes or resets before the answer
(a replica killed mid-request would count as a success).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from geventhttpclient.client import HTTPClient, HTTPClientPool
from geventhttpclient.response import HTTPConnectionClosed
from geventhttpclient.url import URL
from locust import FastHttpUser, HttpUser, TaskSet, User
from locust.env import Environment

from harness.load.config import read_plan_from_env

NOT_RESENT = ("the connection closed before the answer; the request is not sent again (a resent request "
              "would hide a failure of the system under test)")

_sent: ContextVar[bool] = ContextVar("harness_request_sent", default=False)
"""Whether the request running in this greenlet already took a connection (greenlets have their own)."""


class SingleAttemptClient(HTTPClient):
    """geventhttpclient's HTTPClient, but each request takes one connection from the pool, so it is sent
    once: `HTTPClient.request` loops back for another connection (up to the pool size + 1 times) when a
    GET's connection breaks after the send, and that second ask fails the request here instead."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pool = self._connection_pool
        take = pool.get_socket

        def one_per_request() -> Any:
            if _sent.get():
                raise HTTPConnectionClosed(NOT_RESENT)
            _sent.set(True)
            return take()

        pool.get_socket = one_per_request  # type: ignore[method-assign]

    def request(self, *args: Any, **kwargs: Any) -> Any:
        token = _sent.set(False)
        try:
            return super().request(*args, **kwargs)
        finally:
            _sent.reset(token)


class SingleAttemptClientPool(HTTPClientPool):
    """HTTPClientPool (one client per host and port) making `SingleAttemptClient`s."""

    def get_client(self, url: str | URL) -> HTTPClient:
        url = url if isinstance(url, URL) else URL(url)
        key = url.host, url.port
        if key not in self.clients:
            self.clients[key] = SingleAttemptClient.from_url(url, **self.client_args)
        return self.clients[key]


class SingleAttemptFastHttpUser(FastHttpUser):
    """A FastHttpUser whose requests are each sent once (`SingleAttemptClient`)."""

    abstract = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        agent = self.client.client  # Locust's UserAgent: its pool was made from the user's settings
        agent.clientpool = SingleAttemptClientPool(**agent.clientpool.client_args)


def request_task(spec: dict[str, Any]) -> Callable[[HttpUser | FastHttpUser], None]:
    """A task sending one request of the plan; `json` (when not null) is the body."""
    method, path = str(spec["method"]), str(spec["path"])
    headers = {name: os.environ[value["env"]] if isinstance(value, dict) else value
               for name, value in (spec.get("headers") or {}).items()}
    options: dict[str, Any] = {"name": spec["name"], "headers": headers}
    if spec.get("json") is not None:
        options["json"] = spec["json"]

    def send(user: HttpUser | FastHttpUser) -> None:
        user.client.request(method, path, **options)

    send.__name__ = f"request_{spec['name']}"
    return send


def weighted_tasks(requests: list[dict[str, Any]]) -> list[TaskSet | Callable[..., Any]]:
    """Each request's task `weight` times, as Locust itself expands a `tasks` dict."""
    return [task for spec in requests for task in [request_task(spec)] * int(spec["weight"])]


def requests_user(plan: dict[str, Any]) -> type[User]:
    """The built-in user class of the plan: its base picked by `client` (absent in older plans: requests)."""
    base: type[User] = SingleAttemptFastHttpUser if plan.get("client") == "fasthttp" else HttpUser
    # A `tasks` list, not @task methods (weights come from the plan); Locust's own attribute type.
    return type("HarnessRequestsUser", (base,), {"tasks": weighted_tasks(plan["requests"]),
                                                 "__module__": __name__})


HarnessRequestsUser = requests_user(read_plan_from_env())
