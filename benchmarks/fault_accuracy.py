"""Latency injection accuracy, and the fault proxy's own overhead.

Targets: (a) the added median latency within 10 % of the injected 50, 200 and 500 ms;
         (b) the proxy adds under 1 ms to the median and loses under 5 % of throughput.

(a) A LocalStack; a bounded client (6 threads, keep-alive) sends GET /api/items/42 through the Caddy
    edge, in blocks without and with a `latency` fault (no jitter) on every replica, alternated
    round after round. Added = median with the fault - median without, per round.
(b) One shop replica and one fault proxy in front of it, started directly (no edge). Latency: one
    client thread, sequential requests, direct vs through the proxy, alternated in blocks. Throughput:
    8 closed-loop client threads for a fixed time, direct vs through the proxy, alternated. Two
    endpoints: /healthz (no work: the worst case for the proxy's share) and /api/items/42 (1-4 ms).

    .venv/bin/python benchmarks/fault_accuracy.py [--quick]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from _common import (
    HEALTH,
    ITEM,
    Load,
    Outcome,
    Request,
    Spread,
    arguments,
    edge_port,
    leftovers,
    local_stack,
    machine_line,
    median_ms,
    scratch,
    setup_logging,
    table,
)

import harness
from harness import procs
from harness.platform.local.faultproxy import FaultProxyClient
from harness.platform.local.stack import LocalStack

DELAYS_S = (0.05, 0.2, 0.5)
FAULT = "bench-latency"
MODES = ("sequential", "closed", "paced")
PACED_PER_THREAD = 50.0  # 8 threads: 400 req/s offered, about what a harness run's Locust sends here
ALL = [0, 1, 2]  # every replica of the stack


@dataclass(frozen=True)
class Settings:
    rounds: int
    per_thread: int  # requests per client thread in a latency block through the edge
    sequential: int  # requests in a one-thread latency block of (b)
    throughput_s: float


def alternate(round_index: int, first: str, second: str) -> tuple[str, str]:
    """Swap the order every other round, so a drift of the machine's load favours neither side."""
    return (first, second) if round_index % 2 == 0 else (second, first)


def injection_accuracy(stack: LocalStack, settings: Settings) -> None:
    proxy = stack.fault_proxy
    rows = []
    for delay in DELAYS_S:
        base, faulted, added = [], [], []
        for r in range(settings.rounds):
            medians: dict[str, float] = {}
            for side in alternate(r, "without", "with"):
                if side == "with":
                    proxy.put(FAULT, {"kind": "latency", "delay_s": delay, "jitter_s": 0.0, "targets": ALL})
                try:
                    load = Load(edge_port(stack), [ITEM], threads=6, per_thread=settings.per_thread)
                    medians[side] = median_ms(load.run_count())
                finally:
                    if side == "with":
                        proxy.delete(FAULT)
            base.append(medians["without"])
            faulted.append(medians["with"])
            added.append(medians["with"] - medians["without"])
        error = (Spread.of(added).median - delay * 1000) / (delay * 1000) * 100
        rows.append([f"{delay * 1000:.0f}", Spread.of(base).show(), Spread.of(faulted).show(),
                     Spread.of(added).show(), f"{error:+.2f} %", "yes" if abs(error) <= 10 else "NO"])
    print(table(["injected ms", "median without ms", "median with ms", "added ms (min/med/max)",
                 "error of median added", "within 10 %"], rows))


@dataclass(frozen=True)
class Pair:
    """A shop replica and a fault proxy in front of it."""

    direct: int
    proxied: int
    control: int
    shop_pid: int
    proxy_pid: int


@contextmanager
def shop_and_proxy(folder: Path) -> Iterator[Pair]:
    root = str(Path(harness.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    shop_port, listen, control = (procs.free_port() for _ in range(3))
    started: list[subprocess.Popen[bytes]] = []
    with ExitStack() as cleanup:
        cleanup.callback(lambda: print(f"shop and proxy stopped; processes left behind: "
                                       f"{leftovers(p.pid for p in started) or 'none'}"))
        for name, argv in (
            ("shop", ["harness.platform.local.shop", "--port", str(shop_port), "--replica", "0"]),
            ("faultproxy", ["harness.platform.local.faultproxy", "--listen", f"0={listen}:{shop_port}",
                            "--control-port", str(control)]),
        ):
            proc = procs.spawn([sys.executable, "-m", *argv], log_path=folder / f"{name}.log", env=env)
            started.append(proc)
            cleanup.callback(procs.stop, proc)
        for port, proc in ((shop_port, started[0]), (listen, started[1]), (control, started[1])):
            if not procs.wait_for_port("127.0.0.1", port, timeout=15.0, proc=proc):
                raise SystemExit(f"port {port} did not open; see the logs in {folder}")
        yield Pair(shop_port, listen, control, started[0].pid, started[1].pid)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Block:
    """One block of requests on one side: its median latency, rate and CPU cost per answered request."""

    median_ms: float
    rate: float
    cpu_us: dict[str, float]  # "shop", "proxy", "client" -> CPU microseconds per answered request


def _rate(outcomes: list[Outcome]) -> float:
    ok = [o for o in outcomes if 200 <= o.status < 300]
    if len(ok) < 2:
        return 0.0
    return len(ok) / (max(o.ended for o in ok) - min(o.started for o in ok))


def measure(pair: Pair, side: str, request: Request, mode: str, settings: Settings) -> Block:
    port = pair.direct if side == "direct" else pair.proxied
    if mode == "sequential":
        load = Load(port, [request], threads=1, per_thread=settings.sequential)
    else:
        load = Load(port, [request], threads=8, rate_per_thread=PACED_PER_THREAD if mode == "paced" else None)

    def snapshot() -> dict[str, float]:
        return {"shop": cpu_seconds(pair.shop_pid), "proxy": cpu_seconds(pair.proxy_pid),
                "client": time.process_time()}

    before = snapshot()
    outcomes = load.run_count() if mode == "sequential" else load.run_for(settings.throughput_s)
    after = snapshot()
    answered = max(1, sum(1 for o in outcomes if 200 <= o.status < 300))
    cpu = {name: (after[name] - before[name]) / answered * 1e6 for name in before}
    return Block(median_ms(outcomes), _rate(outcomes), cpu)


def compare(pair: Pair, request: Request, settings: Settings) -> dict[str, dict[str, list[Block]]]:
    """mode -> side -> one Block per round; the sides alternate their order from round to round."""
    results: dict[str, dict[str, list[Block]]] = {m: {"direct": [], "proxy": []} for m in MODES}
    for r in range(settings.rounds):
        for mode in MODES:
            for side in alternate(r, "direct", "proxy"):
                results[mode][side].append(measure(pair, side, request, mode, settings))
    return results


def _sides(blocks: dict[str, list[Block]], value: str) -> tuple[list[float], list[float]]:
    return [getattr(b, value) for b in blocks["direct"]], [getattr(b, value) for b in blocks["proxy"]]


def latency_row(name: str, blocks: dict[str, list[Block]]) -> list[object]:
    direct, proxy = _sides(blocks, "median_ms")
    added = Spread.of(p - d for p, d in zip(proxy, direct, strict=True))
    return [name, Spread.of(direct).show("{:.3f}"), Spread.of(proxy).show("{:.3f}"), added.show("{:.3f}"),
            "yes" if added.median < 1.0 else "NO"]


def throughput_row(name: str, blocks: dict[str, list[Block]]) -> list[object]:
    direct, proxy = _sides(blocks, "rate")
    lost = Spread.of((1 - p / d) * 100 for p, d in zip(proxy, direct, strict=True))
    slow_direct, slow_proxy = _sides(blocks, "median_ms")
    added = Spread.of(p - d for p, d in zip(slow_proxy, slow_direct, strict=True))
    cpu = [Spread.of(b.cpu_us[who] for b in blocks["proxy"]).median for who in ("proxy", "shop", "client")]
    return [name, Spread.of(direct).show("{:.0f}"), Spread.of(proxy).show("{:.0f}"), lost.show("{:+.1f}"),
            "yes" if lost.median < 5.0 else "NO", added.show("{:.2f}"), *(f"{us:.0f}" for us in cpu)]


def report_overhead(results: dict[str, dict[str, dict[str, list[Block]]]], settings: Settings) -> None:
    print(f"latency: 1 thread, {settings.sequential} sequential requests per block, {settings.rounds} rounds")
    print(table(["endpoint", "direct median ms", "proxy median ms", "added ms (min/med/max)", "under 1 ms"],
                [latency_row(name, r["sequential"]) for name, r in results.items()]))
    headers = ["endpoint", "direct req/s", "proxy req/s", "lost % (min/med/max)", "under 5 %",
               "added median ms", "CPU us/req: proxy", "shop", "client"]
    for mode, title in (("closed", "as fast as answers come"),
                        ("paced", f"paced, {8 * PACED_PER_THREAD:.0f} req/s offered")):
        print(f"\nthroughput: 8 client threads, {title}, {settings.throughput_s:g} s per block, "
              f"{settings.rounds} rounds (CPU cost measured on the proxy side)")
        print(table(headers, [throughput_row(name, r[mode]) for name, r in results.items()]))


def proxy_overhead(folder: Path, settings: Settings) -> None:
    with shop_and_proxy(folder) as pair:
        if FaultProxyClient(f"http://127.0.0.1:{pair.control}").active():
            raise SystemExit("the fault proxy has active faults: its overhead cannot be measured")
        results = {f"{r.method} {r.path}": compare(pair, r, settings) for r in (HEALTH, ITEM)}
        report_overhead(results, settings)


def main() -> int:
    args = arguments(__doc__.splitlines()[0] if __doc__ else "").parse_args()
    setup_logging(args.verbose)
    quick = Settings(rounds=2, per_thread=5, sequential=200, throughput_s=1.0)
    full = Settings(rounds=4, per_thread=10, sequential=300, throughput_s=1.5)
    settings = quick if args.quick else full
    print(f"fault_accuracy\n{machine_line()}\n")
    with scratch("fault") as folder:
        print("(b) fault proxy overhead: one shop replica, direct vs through the proxy, side by side")
        proxy_overhead(folder / "pair", settings)
        print(f"\n(a) latency injection through the edge: 6 threads x {settings.per_thread} requests "
              f"per block, {settings.rounds} rounds")
        with local_stack(folder / "run") as stack:
            injection_accuracy(stack, settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
