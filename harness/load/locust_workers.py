"""Locust side, distributed: workers send their record lines to the master, which writes the record file.

Imported only by `locust_plan` inside Locust processes. A worker's lines travel as one custom message
per second (`RECORD_MESSAGE`, ordered on its connection), so everything a worker counted before it
reports "stopped" reaches the master before the master's own test_stop, where `stopped_at` is written.

On its first second a worker sends `HELLO_MESSAGE`: its pid, host name, clock and the fingerprint of
the plan it runs. The master writes, besides the workers' own lines:

- `{"worker": ID, "pid": P, "hostname": H, "skew_s": S, "at": T}` when a worker says hello (`skew_s`:
  its clock minus the master's, message latency included);
- `{"worker_refused": ID, "reason": R, "at": T}` when its plan differs from the master's (it is told to
  quit; the harness treats this as fatal);
- `{"second": S, "workers": N}` every second: workers connected and not missing;
- `{"worker_lost": ID, "at": T, "state": STATE}` once, when a worker that said hello went missing (no
  heartbeat for ~3 s) or quit while the test was running.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust.env import Environment
from locust.rpc import Message
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

RECORD_MESSAGE = "harness_record"
HELLO_MESSAGE = "harness_hello"

Sink = Callable[[list[dict[str, Any]]], None]


def send_to_master(runner: WorkerRunner) -> Sink:
    def send(records: list[dict[str, Any]]) -> None:
        runner.send_message(RECORD_MESSAGE, {"records": records})

    return send


def say_hello(runner: WorkerRunner, fingerprint: str) -> None:
    runner.send_message(HELLO_MESSAGE, {"pid": os.getpid(), "hostname": socket.gethostname(),
                                        "time": time.time(), "plan": fingerprint})


class MasterLog:
    """The master's side: writes the workers' lines and its own about the workers to the record file."""

    def __init__(self, environment: Environment, runner: MasterRunner, sink: Sink, fingerprint: str) -> None:
        self._environment = environment
        self._runner = runner
        self._sink = sink
        self._fingerprint = fingerprint
        self._known: set[str] = set()
        self._lost: set[str] = set()
        runner.register_message(RECORD_MESSAGE, self._on_records)
        runner.register_message(HELLO_MESSAGE, self._on_hello)

    def _on_records(self, environment: Environment, msg: Message, **_: Any) -> None:
        self._sink(list(msg.data["records"]))

    def _on_hello(self, environment: Environment, msg: Message, **_: Any) -> None:
        now = time.time()
        data = msg.data
        if data.get("plan") != self._fingerprint:
            reason = ("it runs a different load plan (another experiment, profile or harness version): start "
                      "it with the same experiment file as the run")
            self._sink([{"worker_refused": msg.node_id, "reason": reason, "at": now}])
            self._runner.server.send_to_client(Message("quit", None, msg.node_id))  # type: ignore[no-untyped-call]
            return
        self._known.add(msg.node_id)
        self._sink([{"worker": msg.node_id, "pid": data.get("pid"), "hostname": data.get("hostname"),
                     "skew_s": round(float(data.get("time", now)) - now, 4), "at": now}])

    def run_every_second(self, flush_after_second_s: float) -> None:
        while True:
            now = time.time()
            gevent.sleep(int(now) + 1 + flush_after_second_s - now)
            present = {c.id for c in self._runner.clients.all if c.state != "missing"}
            lines: list[dict[str, Any]] = [{"second": int(time.time()), "workers": len(present)}]
            if self._runner.state in (STATE_RUNNING, STATE_SPAWNING):
                for worker in sorted(self._known - present - self._lost):
                    node = self._runner.clients.get(worker)
                    lines.append({"worker_lost": worker, "at": time.time(),
                                  "state": node.state if node is not None else "quit"})
                    self._lost.add(worker)
            self._sink(lines)


def plan_fingerprint(plan: dict[str, Any]) -> str:
    """What a worker's plan must share with the master's: everything that shapes a worker's requests."""
    keys = ("requests", "wait", "timeout_s", "latency_thresholds_s", "users_sha256")
    shared = json.dumps({k: plan.get(k) for k in keys}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(shared.encode()).hexdigest()[:16]
