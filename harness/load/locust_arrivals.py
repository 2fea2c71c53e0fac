"""Locust side: the open model (k6's constant-arrival-rate), which Locust itself lacks.

Arrival k starts at offset k / rate of the shape's clock, whatever earlier requests are doing: it
borrows an idle instance of one of the run's user classes (picked by their `weight`), runs one of its
tasks once and gives it back. At most `max_in_flight` arrivals run at once; one that finds them all
busy is not sent and is recorded as a failed request named DROPPED_REQUEST_NAME, so a system too slow
to answer shows as failures instead of a quietly lower rate (coordinated omission).

Instances are created when needed (at most max_in_flight of each class), run `on_start` before their
first task and `on_stop` when the run ends; a request's client, cookies included, stays with its
instance. Tasks must be functions (`@task` methods): a nested TaskSet never ends by itself, so it has
no single "one task" to run and is refused when the run starts.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, cast

import gevent  # type: ignore[import-untyped]
from gevent.pool import Group  # type: ignore[import-untyped]
from locust import TaskSet, User
from locust.env import Environment
from locust.exception import InterruptTaskSet, RescheduleTask, RescheduleTaskImmediately, StopUser
from locust.user.task import DefaultTaskSet

from harness.load.record import DROPPED_REQUEST_NAME

log = logging.getLogger(__name__)

_TASK_ENDS = (InterruptTaskSet, RescheduleTask, RescheduleTaskImmediately, StopUser)
"""Locust's ways for a task to end early: the arrival is over, the instance is reused."""


def taskset_classes(user_classes: list[type[User]]) -> list[str]:
    """`Class.task` names of tasks that are nested TaskSets (refused in the open model)."""
    return [f"{cls.__name__}.{task.__name__}" for cls in user_classes for task in cls.tasks
            if isinstance(task, type) and issubclass(task, TaskSet)]


class ArrivalDispatcher:
    def __init__(self, environment: Environment, rate: float, max_in_flight: int) -> None:
        nested = taskset_classes(environment.user_classes)
        if nested:
            raise ValueError(f"an arrival load runs one task per arrival, but these tasks are TaskSets: "
                             f"{', '.join(nested)}; use @task methods, or stages instead of arrival")
        self._environment = environment
        self._rate = rate
        self._cap = max_in_flight
        self._classes = list(environment.user_classes)
        self._weights = [max(1, int(getattr(cls, "weight", 1) or 1)) for cls in self._classes]
        self._idle: dict[type[User], list[User]] = {cls: [] for cls in self._classes}
        self._created: list[User] = []
        self._in_flight = Group()
        self._loop: Any = None
        for cls in self._classes:
            if environment.host:  # as Locust's runner does before it spawns users
                cls.host = environment.host

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def start(self, run_s: float) -> None:
        self._loop = gevent.spawn(self._run, time.monotonic(), run_s)

    def stop(self, timeout_s: float) -> None:
        """No more arrivals; in-flight ones get timeout_s to finish (and be recorded), then are killed."""
        if self._loop is not None:
            self._loop.kill(block=True)
        self._in_flight.join(timeout=timeout_s)
        self._in_flight.kill(block=True, timeout=1.0)
        for user in self._created:
            try:
                user.on_stop()  # type: ignore[no-untyped-call]
            except Exception:
                log.exception("on_stop of %s failed", type(user).__name__)

    def _run(self, origin: float, run_s: float) -> None:
        arrival = 0
        while (offset := arrival / self._rate) < run_s:
            delay = origin + offset - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            # Behind schedule (a busy CPU), the late arrivals go at once: the rate is kept where possible,
            # and what is lost shows as the generator's shortfall, never as the system's.
            self._arrive()
            arrival += 1

    def _arrive(self) -> None:
        if len(self._in_flight) >= self._cap:
            self._environment.events.request.fire(
                request_type="ARRIVAL", name=DROPPED_REQUEST_NAME, response_time=0, response_length=0,
                exception=RuntimeError(f"{self._cap} requests in flight (max_in_flight)"), context={},
                start_time=time.time(), url="",
            )  # type: ignore[no-untyped-call]
            return
        user_class = random.choices(self._classes, self._weights)[0]
        self._in_flight.spawn(self._serve, user_class)

    def _serve(self, user_class: type[User]) -> None:
        idle = self._idle[user_class]
        user = idle.pop() if idle else self._new_user(user_class)
        if user is None:
            return
        task = cast(Callable[[User], None], random.choice(user.tasks))  # functions only: checked at init
        try:
            task(user)
        except _TASK_ENDS:
            pass
        except Exception as err:  # as Locust's TaskSet does: log, report, keep the instance
            log.exception("task %s of %s failed", getattr(task, "__name__", task), user_class.__name__)
            self._environment.events.user_error.fire(  # type: ignore[no-untyped-call]
                user_instance=user, exception=err, tb=err.__traceback__)
        idle.append(user)

    def _new_user(self, user_class: type[User]) -> User | None:
        user = user_class(self._environment)
        user._taskset_instance = DefaultTaskSet(user)  # for a task's self.wait() / interrupt()
        try:
            user.on_start()
        except Exception as err:
            log.exception("on_start of %s failed", user_class.__name__)
            self._environment.events.user_error.fire(  # type: ignore[no-untyped-call]
                user_instance=user, exception=err, tb=err.__traceback__)
            return None
        self._created.append(user)
        return user
