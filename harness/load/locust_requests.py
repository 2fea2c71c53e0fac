"""Locustfile side: the built-in HttpUser made from the plan's request list (used without a user locustfile).

HttpUser (python-requests) counts a status >= 400 or a connection error as a failure and does not
silently retry a dropped connection, so client-side failures stay visible.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from locust import HttpUser, TaskSet

from harness.load.config import read_plan_from_env


def request_task(spec: dict[str, Any]) -> Callable[[HttpUser], None]:
    """A task sending one request of the plan; `json` (when not null) is the body."""
    method, path = str(spec["method"]), str(spec["path"])
    headers = {name: os.environ[value["env"]] if isinstance(value, dict) else value
               for name, value in (spec.get("headers") or {}).items()}
    options: dict[str, Any] = {"name": spec["name"], "headers": headers}
    if spec.get("json") is not None:
        options["json"] = spec["json"]

    def send(user: HttpUser) -> None:
        user.client.request(method, path, **options)

    send.__name__ = f"request_{spec['name']}"
    return send


def weighted_tasks(requests: list[dict[str, Any]]) -> list[TaskSet | Callable[..., Any]]:
    """Each request's task `weight` times, as Locust itself expands a `tasks` dict."""
    return [task for spec in requests for task in [request_task(spec)] * int(spec["weight"])]


class HarnessRequestsUser(HttpUser):
    # A `tasks` list, not @task methods (weights come from the plan); Locust's own attribute type.
    tasks = weighted_tasks(read_plan_from_env()["requests"])
