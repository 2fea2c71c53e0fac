"""What the load generator achieved, per phase and over the run, from its own record."""

from __future__ import annotations

import logging
from typing import Any

from harness.evidence.collect import (
    Window,
)
from harness.load.driver import LoadRun, exit_description
from harness.load.record import WorkerEvent
from harness.run.record import RunRecord

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW_S = 0.25
"""A remote worker whose clock is further off than this is a warning: its seconds are not the master's."""


DETECTION_LAG_S = 6.0
"""Locust marks a worker missing after ~3 missed heartbeats (measured 4-5 s after a SIGKILL)."""


def load_window(load: LoadRun, window: Window) -> dict[str, Any] | None:
    try:
        record = load.record()
        counted = load.window(window.start, window.end)
    except (OSError, ValueError) as err:
        log.warning("client-side counts unavailable: %s", err)
        return None
    lost = [lost_worker_text(load, event) for event in record.workers_lost()
            if window.start <= event.at < window.end + DETECTION_LAG_S]
    return {"requests": counted.requests, "failures": counted.failures, "achieved_rps": counted.achieved_rps,
            "requested_rps": counted.requested_rps, "mean_response_s": counted.mean_response_s,
            "mean_users": counted.mean_users, "throughput_per_user": load.config.pace_per_user,
            **({"workers_lost": lost} if lost else {})}


def lost_worker_text(load: LoadRun, event: WorkerEvent) -> str:
    """"load worker 2 (pid 123 on host) was lost 34.2 s into the load: killed by SIGKILL"."""
    hello = next((e for e in load.record().worker_events if e.kind == "hello" and e.worker == event.worker), None)
    pid = hello.detail.get("pid") if hello is not None else None
    local = next((w for w in load.workers if w.proc.pid == pid), None)
    who = f"local worker {local.index} (pid {pid})" if local is not None else \
        f"worker {event.worker}" + (f" (pid {pid} on {hello.detail.get('hostname')})" if hello is not None else "")
    how = f": it {exit_description(local.proc.returncode)}" if local is not None and local.proc.poll() is not None \
        else " (no heartbeat)" if event.detail.get("state") == "missing" else " (it quit)"
    return f"load {who} was lost {event.at - load.started_at:.1f} s into the load{how}"


class LoadWatch:
    """Says, as soon as it is known, that the load generator ended before the run or lost a worker (a
    ticker of every run); an early end is also a warning of the run."""

    def __init__(self, load: LoadRun, state: RunRecord) -> None:
        self._load, self._state = load, state
        self._said: set[str] = set()
        self._ended = False

    def tick(self, now: float) -> None:
        if not self._ended and self._load.exit_code() is not None:
            self._ended = True
            text = (f"the load generator (Locust, pid {self._load.pid}) "
                    f"{exit_description(self._load.exit_code())} {now - self._load.started_at:.1f} s into the "
                    f"load, before the run's end: the rest of the run has no load (see {self._load.log_path})")
            log.warning("%s", text)
            self._state.warnings.append(text)
        if not self._load.config.distributed:
            return
        for event in self._load.record().workers_lost():
            if event.worker not in self._said:
                self._said.add(event.worker)
                log.warning("%s; its users move to the other workers", lost_worker_text(self._load, event))


def workers_summary(load: LoadRun, state: RunRecord) -> dict[str, Any] | None:
    """Who sent the load (distributed only); each lost worker is a warning of the run."""
    config = load.config
    if not config.distributed:
        return None
    record = load.record()
    lost = [lost_worker_text(load, event) for event in record.workers_lost()]
    state.warnings.extend(f"{text}; its users moved to the other workers (Locust's rebalancing)" for text in lost)
    hello = [e for e in record.worker_events if e.kind == "hello"]
    skewed = [e for e in hello if abs(float(e.detail.get("skew_s", 0.0))) > MAX_CLOCK_SKEW_S]
    state.warnings.extend(
        f"load worker {e.worker} on {e.detail.get('hostname')}: its clock is {float(e.detail['skew_s']):+.2f} s "
        "off the master's; requests are counted in the worker's own seconds, so phase edges shift by that much "
        "(synchronise its clock with NTP)" for e in skewed)
    return {"local": config.workers, "remote": config.remote_workers, "connected": len(hello),
            "hosts": sorted({str(e.detail.get("hostname")) for e in hello}), "lost": lost}


def stop_summary(load: LoadRun, state: RunRecord, now: float) -> dict[str, Any] | None:
    """How the load ended, and the run's tail: from the last phase's end until the evidence was complete."""
    stopped = load.stopped
    if stopped is None:
        return None
    if stopped.forced:
        state.warnings.append(f"the load did not stop when asked: {', '.join(stopped.forced)} killed after "
                              f"{stopped.after_s:.1f} s (SIGKILL); its last second may be missing from the counts")
    last_end = max((p.get("end", 0.0) for p in state.phases.values()), default=0.0)
    tail = round(now - last_end, 3) if last_end else None
    if tail is not None:
        log.info("after the last phase: load stopped %.1fs later (in %.1fs); evidence complete after %.1fs",
                 stopped.requested_at - last_end, stopped.after_s, tail)
    return {"after_last_phase_s": round(stopped.requested_at - last_end, 3) if last_end else None,
            "took_s": stopped.after_s, "forced": list(stopped.forced), "tail_s": tail}


def load_summary(load: LoadRun, state: RunRecord, now: float) -> dict[str, Any]:
    phases = {}
    for name, real in state.phases.items():
        if "start" in real and "end" in real:
            phases[name] = load_window(load, Window(name, real["start"], real["end"]))
    starts = [p["start"] for p in state.phases.values() if "start" in p]
    ends = [p["end"] for p in state.phases.values() if "end" in p]
    overall = load_window(load, Window("run", min(starts), max(ends))) if starts and ends else None
    summary: dict[str, Any] = dict(overall or {"requests": 0, "failures": 0, "achieved_rps": 0.0})
    summary["phases"] = phases
    summary["log"] = str(load.log_path)
    workers = workers_summary(load, state)
    if workers is not None:
        summary["workers"] = workers
    stop = stop_summary(load, state, now)
    if stop is not None:
        summary["stop"] = stop
    return summary
