"""What the simulator's pods stand for: replicas that can be killed, come back, and take proxy faults.

`FakeReplicas` is in memory (unit tests); `LocalReplicas` is the local platform's real replica processes,
its supervisor (which restarts a killed one after its start-up delay) and its fault proxy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from harness.platform.local.stack import LocalStack
from harness.procs import pid_alive


class Replicas(Protocol):
    def count(self) -> int: ...

    def kill(self, index: int) -> None: ...

    def instance(self, index: int) -> str:
        """Identity of the process serving this replica now ("" while none does)."""
        ...

    def ready(self, index: int) -> bool: ...

    def apply_fault(self, name: str, spec: dict[str, Any]) -> None: ...

    def remove_fault(self, name: str) -> None: ...


class FakeReplicas:
    """In-memory replicas: a killed one is back, as a new instance, `start_delay_s` later."""

    def __init__(self, count: int, start_delay_s: float = 0.2, clock: Callable[[], float] = time.monotonic) -> None:
        self._count = count
        self._delay = start_delay_s
        self._clock = clock
        self._lock = threading.Lock()
        self._generation = [0] * count
        self._down_until = [0.0] * count
        self.kills: list[int] = []
        self.faults: dict[str, dict[str, Any]] = {}

    def count(self) -> int:
        return self._count

    def kill(self, index: int) -> None:
        with self._lock:
            self.kills.append(index)
            self._generation[index] += 1
            self._down_until[index] = self._clock() + self._delay

    def instance(self, index: int) -> str:
        return f"{index}.{self._generation[index]}" if self.ready(index) else ""

    def ready(self, index: int) -> bool:
        return self._clock() >= self._down_until[index]

    def apply_fault(self, name: str, spec: dict[str, Any]) -> None:
        self.faults[name] = spec

    def remove_fault(self, name: str) -> None:
        self.faults.pop(name, None)


class LocalReplicas:
    """The local platform's replicas: a pod deleted is its replica SIGKILLed; the supervisor restarts it."""

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack

    def count(self) -> int:
        return self._stack.replica_count

    def _replica(self, index: int) -> Any:
        return next((r for r in self._stack.replicas() if r.index == index), None)

    def kill(self, index: int) -> None:
        replica = self._replica(index)
        if replica is not None and pid_alive(replica.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(replica.pid, signal.SIGKILL)

    def instance(self, index: int) -> str:
        replica = self._replica(index)
        return str(replica.pid) if replica is not None and pid_alive(replica.pid) else ""

    def ready(self, index: int) -> bool:
        replica = self._replica(index)
        return bool(replica is not None and replica.ready and pid_alive(replica.pid))

    def apply_fault(self, name: str, spec: dict[str, Any]) -> None:
        self._stack.fault_proxy.put(name, spec)

    def remove_fault(self, name: str) -> None:
        self._stack.fault_proxy.delete(name)
