"""Faults on the local platform's replicas: kill, pause, and the fault proxy's latency/errors/blackhole."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from harness.errors import FaultError
from harness.faults import undo
from harness.faults.base import FaultCheck, FaultContext, Prepared, ReplicaView
from harness.platform.local.faultproxy import FaultProxyClient
from harness.procs import pid_alive, process_state
from harness.spec.faults import Blackhole, CpuStress, HttpError, Latency, PodKill, ProcessPause


def _aimed(ctx: FaultContext, selector: Mapping[str, str] | None) -> list[ReplicaView]:
    return list(ctx.platform.targets(selector))


def prepare_pod_kill(fault: PodKill, ctx: FaultContext) -> Prepared:
    candidates = _aimed(ctx, fault.selector)
    count = fault.victims(len(candidates)) if candidates else 0
    victims = random.Random(f"{ctx.seed}:{fault.name}").sample(candidates, count)

    def apply() -> Mapping[str, Any]:
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim.pid, signal.SIGKILL)
        return {"killed": [{"replica": v.name, "index": v.index, "pid": v.pid} for v in victims]}

    def verify(details: Mapping[str, Any]) -> FaultCheck:
        now = {r.index: r for r in ctx.platform.replicas()}
        restarted = [k for k in details.get("killed", []) if k["index"] in now and now[k["index"]].pid != k["pid"]
                     and now[k["index"]].ready]
        dead = [k for k in details.get("killed", []) if pid_alive(int(k["pid"]))]
        killed = len(details.get("killed", []))
        took = killed > 0 and not dead
        observed = (f"{killed} replica(s) killed, {len(restarted)} restarted with a new PID"
                    + (f"; still alive: {[k['pid'] for k in dead]}" if dead else ""))
        return FaultCheck(took, observed)

    return Prepared(tuple(v.name for v in victims), None, apply, verify)


def prepare_pause(fault: ProcessPause, ctx: FaultContext) -> Prepared:
    aimed = _aimed(ctx, fault.selector)
    if fault.count is not None:
        aimed = random.Random(f"{ctx.seed}:{fault.name}").sample(aimed, min(fault.count, len(aimed)))
    pids = [r.pid for r in aimed]

    def apply() -> Mapping[str, Any]:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(0.05)
        return {"paused": pids, "stopped_state": [process_state(pid) == "T" for pid in pids]}

    def verify(details: Mapping[str, Any]) -> FaultCheck:
        states = details.get("stopped_state", [])
        return FaultCheck(bool(states) and all(states), f"{sum(states)} of {len(pids)} process(es) were stopped")

    return Prepared(tuple(r.name for r in aimed), undo.resume(pids), apply, verify)


def _proxy_spec(fault: Latency | HttpError | Blackhole, targets: list[int]) -> dict[str, Any]:
    if isinstance(fault, Latency):
        return {"kind": "latency", "delay_s": fault.delay, "jitter_s": fault.jitter, "targets": targets}
    if isinstance(fault, HttpError):
        return {"kind": "http-error", "rate": float(fault.rate) / 100, "status": fault.status, "targets": targets}
    return {"kind": "blackhole", "targets": targets, "hold_s": fault.duration}


def prepare_proxy_fault(fault: Latency | HttpError | Blackhole, ctx: FaultContext) -> Prepared:
    url = ctx.platform.fault_proxy_url()
    if url is None:
        raise FaultError(f"fault {fault.name!r}: this platform has no fault proxy")
    aimed = _aimed(ctx, fault.selector)
    targets = [r.index for r in aimed]
    name = f"{fault.name}"

    def apply() -> Mapping[str, Any]:
        before = proxy_counters(url)
        if targets:
            FaultProxyClient(url).put(name, _proxy_spec(fault, targets))
        return {"proxy_fault": name, "replicas": targets, "counters_before": before}

    def verify(details: Mapping[str, Any]) -> FaultCheck:
        return check_proxy_effect(fault, targets, details.get("counters_before", {}), proxy_counters(url))

    return Prepared(tuple(r.name for r in aimed), undo.proxy_fault(url, name), apply, verify)


def proxy_counters(url: str) -> dict[str, float]:
    """The fault proxy's own counters, keyed `action/replica` and `delay/replica`."""
    try:
        text = requests.get(f"{url}/metrics", timeout=5).text
    except requests.RequestException:
        return {}
    counters: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "faultproxy_requests_total":
                counters[f"{sample.labels['action']}/{sample.labels['replica']}"] = sample.value
            elif sample.name == "faultproxy_added_delay_seconds_total":
                counters[f"delay/{sample.labels['replica']}"] = sample.value
    return counters


def check_proxy_effect(fault: Latency | HttpError | Blackhole, targets: Sequence[int],
                       before: Mapping[str, float], after: Mapping[str, float]) -> FaultCheck:
    def delta(key: str) -> float:
        return sum(after.get(f"{key}/{t}", 0.0) - before.get(f"{key}/{t}", 0.0) for t in targets)

    if not targets:
        return FaultCheck(False, "the selector matched no replica: the fault was aimed at nothing")
    if isinstance(fault, Latency):
        delayed = delta("latency")
        mean = delta("delay") / delayed if delayed else 0.0
        took = delayed > 0 and mean >= 0.8 * fault.delay
        return FaultCheck(took, f"{delayed:.0f} requests delayed by {mean * 1000:.0f} ms on average "
                                f"(configured {fault.delay * 1000:.0f} ms)")
    if isinstance(fault, HttpError):
        errors = delta("error")
        seen = errors + delta("none") + delta("latency")
        rate = errors / seen if seen else 0.0
        wanted = float(fault.rate) / 100
        took = errors > 0 and (seen < 200 or abs(rate - wanted) <= max(0.5 * wanted, 0.02))
        return FaultCheck(took, f"{errors:.0f} of {seen:.0f} requests answered {fault.status} "
                                f"({rate:.1%}, configured {wanted:.1%})")
    held = delta("blackhole")
    return FaultCheck(held > 0, f"{held:.0f} requests held without an answer")


def prepare_cpu_stress(fault: CpuStress, ctx: FaultContext) -> Prepared:
    from harness.procs import spawn

    argv = ["stress-ng", "--cpu", str(fault.workers), "--cpu-load", str(int(fault.load)),
            "--timeout", f"{int(fault.duration) + 1}s", "--quiet"]
    def apply() -> Mapping[str, Any]:
        try:
            proc = spawn(argv, log_path=ctx.run_dir / "faults" / f"{fault.name}.log")
        except FileNotFoundError as err:
            raise FaultError("cpu-stress needs stress-ng (apt-get install stress-ng)") from err
        time.sleep(0.2)
        # reap it when it ends, so no zombie is left behind
        threading.Thread(target=proc.wait, name=f"reap-{fault.name}", daemon=True).start()
        # known only now: journalled right after, and stress-ng also stops by itself (--timeout)
        return {"pid": proc.pid, "running": proc.poll() is None, "undo": undo.kill_group([proc.pid])}

    def verify(details: Mapping[str, Any]) -> FaultCheck:
        return FaultCheck(bool(details.get("running")), f"stress-ng with {fault.workers} worker(s) at "
                          f"{fault.load}% {'ran' if details.get('running') else 'did not start'}")

    return Prepared(("this machine",), None, apply, verify)
