"""What the harness's load driver costs against bare Locust, side by side, alternating.

Against `caddy respond` (a trivial endpoint that is not the bottleneck): (1) the achieved rate and the
client latency percentiles of `start_load` and of `python -m locust -f SAME_FILE --headless` with the
same user class, users and duration, at saturation (no wait) and paced (50 users x 2 req/s), the paced
case with Locust's constant_throughput (the harness before the staggered pacing) and with the
staggered one; (2) HttpUser against FastHttpUser at saturation, the harness's built-in user with
`client: requests` and `client: fasthttp` too; (3) 1, 2 and 4 load processes (`LoadConfig(workers=N)`
against `--processes N`); (4) start-up to the first request the server sees, and peak memory (RSS
summed over the process tree); (5) the tail of real `harness run`s (result.json `load.stop`).

Both sides run the same locustfile, whose request listener records every request (start, response
time, failure) and the process's CPU time every 0.5 s: rates, percentiles and CPU per request come
from it on both sides, over the same window (the steady part of the run). The built-in user has no
listener: its rate comes from the harness's own record over the same window.

    .venv/bin/python benchmarks/load_overhead.py [--quick] [--trials N]
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the integration tests' experiment writer, for the harness runs

from _common import Spread, arguments, leftovers, machine_line, setup_logging, table  # noqa: E402

from harness import procs  # noqa: E402
from harness.load import LoadConfig, RequestSpec, Stage, start_load  # noqa: E402
from harness.load.config import Client  # noqa: E402

WARM_S, COOL_S = 1.25, 0.5  # the window: whole seconds from first request + WARM_S, ending COOL_S before the last
RUN_TIMEOUT_S = 60.0
LOCUST_FLAGS = ["--loglevel", "WARNING", "--exit-code-on-error", "0", "--stop-timeout", "2", "--only-summary"]
WAITS = {
    "none": "constant(0)",
    "constant_throughput": "constant_throughput(PACE)",
    "staggered": "staggered(PACE)",
}
LOCUSTFILE = '''
import os, random, time
import gevent
from locust import {base}, constant, constant_throughput, events

OUT, PACE = {out!r}, {pace!r}
_requests, _cpu = [], []


def staggered(per_user):
    """The harness's staggered_throughput (locust_plan.py), copied: that module needs a harness plan."""
    pace, period = constant_throughput(per_user), 1.0 / per_user

    def wait_time(user):
        wait = pace(user)
        if not getattr(user, "_staggered", False):
            user._staggered = True
            shift = random.uniform(0.0, period)
            user._cp_last_wait_time += shift
            wait += shift
        return wait

    return wait_time


def get(user):
    user.client.get("/", name="ok"{options})


class BenchUser({base}):
    wait_time = {wait}
    tasks = [get]


def _on_request(start_time, response_time, exception=None, **_):
    _requests.append((start_time, response_time, exception is not None))


def _clock():
    while True:
        _cpu.append((time.time(), time.process_time()))
        gevent.sleep(0.5)


def _on_init(environment, **_):
    environment.events.request.add_listener(_on_request)
    gevent.spawn(_clock)


def _on_quit(**_):
    if not _requests:
        return  # a master, or a process that sent nothing
    _cpu.append((time.time(), time.process_time()))
    with open(os.path.join(OUT, f"{{os.getpid()}}.txt"), "w") as out:
        out.writelines(f"cpu {{t:.6f}} {{c:.6f}}\\n" for t, c in _cpu)
        out.writelines(f"req {{s:.6f}} {{r:.3f}} {{int(f)}}\\n" for s, r, f in _requests)


events.init.add_listener(_on_init)
events.quitting.add_listener(_on_quit)
'''


@dataclass(frozen=True)
class Case:
    """One load: a user class (`base`, `wait` of WAITS) run by `users` users for `seconds`."""

    base: str = "HttpUser"
    wait: str = "none"
    users: int = 10
    seconds: float = 6.0
    processes: int = 1
    pace: float = 2.0
    harness_pacing: bool = False  # the harness side: the plan's throughput_per_user (staggered) replaces `wait`
    timeout: bool = False  # each request with timeout=5.0, as the harness bounds every HttpUser request


@dataclass(frozen=True)
class Measured:
    requests: int
    failures: int
    rate: float
    latencies_ms: tuple[float, ...] = ()  # successful requests, sorted
    cpu_us: float = math.nan  # CPU of the Locust processes per request in the window
    peak_10ms: int = 0  # the most requests started in one 10 ms slot (a burst)

    def pct(self, q: float) -> float:
        values = self.latencies_ms
        return values[min(len(values) - 1, math.ceil(q * len(values)) - 1)] if values else math.nan


@dataclass
class Bench:
    folder: Path
    host: str
    started: set[int] = field(default_factory=set)
    _runs: int = 0

    def new_dir(self, name: str) -> Path:
        self._runs += 1
        path = self.folder / f"{self._runs:03d}-{name}"
        path.mkdir(parents=True)
        return path

    def note_tree(self) -> None:
        """Every process below ours, now: the leftover check at the end looks at each of them."""
        self.started.update(descendants(os.getpid()))


# -- processes ---------------------------------------------------------------------------------------------

def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields is not None and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def memory_kb(pids: set[int]) -> tuple[int, int]:
    """RSS and PSS summed over pids, in kB. RSS counts a page shared by several processes (a forked
    worker's copy-on-write pages) in each of them; PSS divides it among them."""
    rss = pss = 0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        sizes = {line.split(":")[0]: int(line.split()[1]) for line in lines[1:] if line.endswith("kB")}
        rss, pss = rss + sizes.get("Rss", 0), pss + sizes.get("Pss", 0)
    return rss, pss


class TreeWatch:
    """Samples the process tree under `root` every `every_s`: the PIDs seen, the peak summed RSS and PSS."""

    def __init__(self, root: int, every_s: float) -> None:
        self.root, self.every_s = root, every_s
        self.pids: set[int] = set()
        self.peak_rss_kb = self.peak_pss_kb = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="loadbench-watch")
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            tree = {self.root, *descendants(self.root)}
            self.pids |= tree
            rss, pss = memory_kb(tree)
            self.peak_rss_kb, self.peak_pss_kb = max(self.peak_rss_kb, rss), max(self.peak_pss_kb, pss)
            self._done.wait(self.every_s)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5.0)


def locust_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    env["PYTHONPATH"] = str(REPO)
    return env


@contextmanager
def caddy(folder: Path, access_log: bool = False) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """`caddy respond` on a free port (no admin endpoint), its files under folder; stopped by its PID."""
    home = folder / "caddy-home"
    home.mkdir(parents=True, exist_ok=True)
    port, log = procs.free_port(), folder / "caddy.log"
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config")}
    argv = ["caddy", "respond", "--listen", f"127.0.0.1:{port}", "--body", "ok",
            *(["--access-log"] if access_log else [])]
    proc = procs.spawn(argv, log_path=log, env=env, cwd=home)
    try:
        if not procs.wait_for_port("127.0.0.1", port, timeout=10.0, proc=proc):
            raise SystemExit(f"caddy respond did not listen on {port}:\n{log.read_text()[-2000:]}")
        yield f"http://127.0.0.1:{port}", proc, log
    finally:
        procs.stop(proc)


# -- one run of each side ----------------------------------------------------------------------------------

def write_locustfile(folder: Path, case: Case, out: Path) -> Path:
    path = folder / "bench_locustfile.py"
    options = ", timeout=5.0" if case.timeout else ""
    path.write_text(LOCUSTFILE.format(base=case.base, wait=WAITS[case.wait], out=str(out), pace=case.pace,
                                      options=options))
    return path


def run_bare(bench: Bench, case: Case) -> Measured:
    folder = bench.new_dir("bare")
    locustfile = write_locustfile(folder, case, folder)
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(case.users),
            "-r", str(case.users), "-t", f"{case.seconds:g}s", "--host", bench.host, *LOCUST_FLAGS,
            *(["--processes", str(case.processes)] if case.processes > 1 else [])]
    proc = procs.spawn(argv, log_path=folder / "locust.log", env=locust_env(), cwd=folder)
    bench.started.add(proc.pid)
    try:
        time.sleep(case.seconds / 2 + 1.0)
        bench.note_tree()
        proc.wait(timeout=RUN_TIMEOUT_S)
    finally:
        procs.stop(proc, sig=signal.SIGINT)
    return listened(folder)


def run_harness(bench: Bench, case: Case) -> Measured:
    folder = bench.new_dir("harness")
    locustfile = write_locustfile(folder, case, folder)
    config = LoadConfig(host=bench.host, stages=(Stage(case.seconds, case.users, float(case.users)),),
                        run_s=case.seconds, locustfile=locustfile, workers=case.processes,
                        throughput_per_user=case.pace if case.harness_pacing else None)
    run = start_load(config, folder / "run")
    bench.started |= {run.pid, *(w.proc.pid for w in run.workers)}
    try:
        time.sleep(case.seconds / 2)
        bench.note_tree()
        run.wait(RUN_TIMEOUT_S)
    finally:
        run.stop()
    return listened(folder)


def run_builtin(bench: Bench, client: Client, users: int, seconds: float) -> Measured:
    """The harness's built-in user (GET /) at saturation: counted by the harness's own record."""
    folder = bench.new_dir(f"builtin-{client}")
    config = LoadConfig(host=bench.host, stages=(Stage(seconds, users, float(users)),), run_s=seconds,
                        requests=(RequestSpec("ok", "GET", "/"),), client=client)
    run = start_load(config, folder / "run")
    bench.started.add(run.pid)
    try:
        run.wait(RUN_TIMEOUT_S)
    finally:
        run.stop()
    start, end = steady(run.started_at, run.started_at + seconds)
    window = run.window(start, end)
    return Measured(window.requests, window.failures, window.requests / (end - start))


def listened(folder: Path) -> Measured:
    """What the locustfile's listeners wrote, over the window, summed across its processes."""
    files = [[line.split() for line in p.read_text().splitlines()] for p in folder.glob("[0-9]*.txt")]
    requests = [(float(f[1]), float(f[2]), f[3] == "1") for lines in files for f in lines if f[0] == "req"]
    if not requests:
        raise SystemExit(f"no request was recorded in {folder}: see its locust.log or run/load/locust.log")
    start, end = steady(min(r[0] for r in requests), max(r[0] for r in requests))
    inside = [r for r in requests if start <= r[0] < end]
    cpu = sum(_cpu_between(lines, start, end) for lines in files)
    return Measured(len(inside), sum(r[2] for r in inside), len(inside) / (end - start),
                    tuple(sorted(r[1] for r in inside if not r[2])), cpu / max(1, len(inside)) * 1e6,
                    _peak_10ms(r[0] for r in inside))


def steady(first: float, last: float) -> tuple[float, float]:
    """The window counted: whole seconds from WARM_S after the first request. Its edges fall between the
    bursts of a load paced at 2 req/s per user (every 0.5 s from the spawn), never on one of them."""
    start = first + WARM_S
    return start, start + max(1.0, math.floor(last - COOL_S - start))


def _peak_10ms(starts: Iterable[float]) -> int:
    """The most requests started within one 10 ms slot: about 1-3 for 100 req/s spread evenly."""
    slots = Counter(int(t * 100) for t in starts)
    return max(slots.values(), default=0)


def _cpu_between(lines: list[list[str]], start: float, end: float) -> float:
    """CPU seconds one process spent between start and end, from its 0.5 s samples (interpolated)."""
    points = [(float(f[1]), float(f[2])) for f in lines if f[0] == "cpu"]

    def at(moment: float) -> float:
        before = [p for p in points if p[0] <= moment] or points[:1]
        after = [p for p in points if p[0] >= moment] or points[-1:]
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 if t1 <= t0 else c0 + (c1 - c0) * (moment - t0) / (t1 - t0)

    return at(end) - at(start)


# -- tables ------------------------------------------------------------------------------------------------

def spread_of(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    return Spread.of(v for v in values if not math.isnan(v)).show(fmt)


def ratios(top: Sequence[float], bottom: Sequence[float]) -> str:
    return spread_of([a / b for a, b in zip(top, bottom, strict=True) if b], "{:.2f}")


def latency_row(name: str, runs: Sequence[Measured]) -> list[str]:
    return [name, spread_of([m.rate for m in runs]), *(spread_of([m.pct(q) for m in runs], "{:.1f}")
                                                       for q in (0.5, 0.9, 0.99)),
            spread_of([m.cpu_us for m in runs]), spread_of([m.peak_10ms for m in runs]),
            str(sum(m.failures for m in runs))]


def ratio_row(name: str, top: Sequence[Measured], bottom: Sequence[Measured]) -> list[str]:
    cells = [ratios([m.rate for m in top], [m.rate for m in bottom])]
    cells += [ratios([m.pct(q) for m in top], [m.pct(q) for m in bottom]) for q in (0.5, 0.9, 0.99)]
    return [name, *cells, ratios([m.cpu_us for m in top], [m.cpu_us for m in bottom]), "", ""]


LATENCY_HEADERS = ["", "req/s", "p50 ms", "p90 ms", "p99 ms", "CPU us/req", "most in 10 ms", "failures"]


def alternate(trials: int, runs: dict[str, Callable[[], Measured]]) -> dict[str, list[Measured]]:
    """Every run once per trial, in turn; odd trials in the reverse order."""
    results: dict[str, list[Measured]] = {name: [] for name in runs}
    for trial in range(trials):
        names = list(runs) if trial % 2 == 0 else list(reversed(runs))
        for name in names:
            results[name].append(runs[name]())
        print(f"  trial {trial + 1}/{trials}: " + ", ".join(f"{n} {results[n][-1].rate:.0f}/s" for n in runs))
    return results


# -- the parts ---------------------------------------------------------------------------------------------

def saturation(bench: Bench, trials: int, seconds: float) -> None:
    http, fast = Case(seconds=seconds), Case(base="FastHttpUser", seconds=seconds)
    print(f"\n(1a, 2) saturation: {http.users} users, no wait, 1 process, {seconds:g} s per run")
    got = alternate(trials, {
        "bare HttpUser": lambda: run_bare(bench, http),
        "harness HttpUser": lambda: run_harness(bench, http),
        "bare HttpUser, timeout=5": lambda: run_bare(bench, replace(http, timeout=True)),
        "bare FastHttpUser": lambda: run_bare(bench, fast),
        "harness FastHttpUser": lambda: run_harness(bench, fast),
        "built-in requests": lambda: run_builtin(bench, "requests", http.users, seconds),
        "built-in fasthttp": lambda: run_builtin(bench, "fasthttp", http.users, seconds),
    })
    rows = [latency_row(name, got[name]) for name in list(got)[:5]]
    rows.insert(2, ratio_row("harness / bare", got["harness HttpUser"], got["bare HttpUser"]))
    rows.insert(4, ratio_row("harness / bare with timeout=5", got["harness HttpUser"],
                             got["bare HttpUser, timeout=5"]))
    rows.append(ratio_row("harness / bare", got["harness FastHttpUser"], got["bare FastHttpUser"]))
    print(table(LATENCY_HEADERS, rows))
    rate = {name: [m.rate for m in runs] for name, runs in got.items()}
    print("\n" + table(["(2) saturation rate", "req/s or ratio"], [
        ["built-in, client: requests (HttpUser)", spread_of(rate["built-in requests"])],
        ["built-in, client: fasthttp (FastHttpUser, sent once)", spread_of(rate["built-in fasthttp"])],
        ["FastHttpUser / HttpUser, bare", ratios(rate["bare FastHttpUser"], rate["bare HttpUser"])],
        ["FastHttpUser / HttpUser, harness locustfile", ratios(rate["harness FastHttpUser"],
                                                               rate["harness HttpUser"])],
        ["fasthttp / requests, harness built-in", ratios(rate["built-in fasthttp"], rate["built-in requests"])],
        ["built-in fasthttp / bare FastHttpUser", ratios(rate["built-in fasthttp"], rate["bare FastHttpUser"])],
        ["built-in requests / bare HttpUser", ratios(rate["built-in requests"], rate["bare HttpUser"])],
    ]))
    costs = recorder_cost(bench.new_dir("recorder"))
    print("\nthe harness's recorder alone (its request listener, in a Locust process): "
          + ", ".join(f"{us:.1f} us per request ({label})" for label, us in costs.items()))


RECORDER_COST = """
import json, time
from harness.load.locust_plan import Recorder
costs = {}
for label, bounds in (("no client SLI", []), ("one latency bound", [0.25])):
    recorder = Recorder(lambda lines: None, bounds)
    count, now = 200_000, time.time()
    began = time.perf_counter()
    for i in range(count):
        recorder.on_request("ok", 1.5, None, now + i * 1e-4)
        if i % 10_000 == 0:
            recorder.flush(now + i * 1e-4 - 1)  # as it does every second
    costs[label] = (time.perf_counter() - began) / count * 1e6
print(json.dumps(costs))
"""


def recorder_cost(folder: Path) -> dict[str, float]:
    """The harness recorder's request listener alone, in a Locust-side process: microseconds per request."""
    plan = folder / "plan.json"
    plan.write_text(json.dumps({"stages": [[1.0, 1, 1.0]], "run_s": 1.0, "requests": [],
                                "record_path": str(folder / "record.jsonl")}))
    done = subprocess.run([sys.executable, "-c", RECORDER_COST], capture_output=True, text=True, timeout=60,
                          env={**locust_env(), "HARNESS_LOAD_PLAN": str(plan)}, cwd=folder, check=True)
    costs: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return costs


def paced(bench: Bench, trials: int, seconds: float) -> None:
    plain = Case(wait="constant_throughput", users=50, seconds=seconds)
    spread = Case(wait="staggered", users=50, seconds=seconds)
    print(f"\n(1b) paced: {plain.users} users x {plain.pace:g} req/s = {plain.users * plain.pace:g} req/s, "
          f"all spawned at once, HttpUser, {seconds:g} s per run")
    got = alternate(trials, {
        "bare, constant_throughput": lambda: run_bare(bench, plain),
        "harness, constant_throughput (before)": lambda: run_harness(bench, plain),
        "harness, staggered (now)": lambda: run_harness(bench, replace(plain, harness_pacing=True)),
        "bare, staggered": lambda: run_bare(bench, spread),
    })
    rows = [latency_row(name, runs) for name, runs in got.items()]
    names = list(got)
    rows.append(ratio_row("harness / bare, constant_throughput", got[names[1]], got[names[0]]))
    rows.append(ratio_row("harness / bare, staggered", got[names[2]], got[names[3]]))
    rows.append(ratio_row("harness staggered / harness before", got[names[2]], got[names[1]]))
    print(table(LATENCY_HEADERS, rows))


def workers(bench: Bench, trials: int, seconds: float) -> None:
    print(f"\n(3) load processes: 10 users per process, HttpUser, no wait, {seconds:g} s per run")
    runs: dict[str, Callable[[], Measured]] = {}
    for n in (1, 2, 4):
        case = Case(users=10 * n, processes=n, seconds=seconds)
        runs[f"bare {n}"] = partial(run_bare, bench, case)
        runs[f"harness {n}"] = partial(run_harness, bench, case)
    got = alternate(trials, runs)
    rows = []
    for n in (1, 2, 4):
        bare, harness = got[f"bare {n}"], got[f"harness {n}"]
        rows.append([f"{n}", "single process" if n == 1 else f"--processes {n}", spread_of([m.rate for m in bare]),
                     "single process" if n == 1 else f"workers={n}", spread_of([m.rate for m in harness]),
                     ratios([m.rate for m in harness], [m.rate for m in bare]),
                     spread_of([m.cpu_us for m in bare]), spread_of([m.cpu_us for m in harness])])
    print(table(["N", "bare", "req/s", "harness", "req/s", "harness / bare", "CPU us/req bare", "harness"],
                rows, left=2))


# -- (4) start-up and memory -------------------------------------------------------------------------------

DRIVER = """
import json, sys, time
before_imports = time.time()
from pathlib import Path
from harness.load import LoadConfig, RequestSpec, Stage, start_load
spec = json.loads(sys.argv[1])
config = LoadConfig(host=spec["host"], stages=(Stage(spec["seconds"], spec["users"], spec["users"]),),
                    run_s=spec["seconds"], workers=spec["workers"], throughput_per_user=spec["pace"],
                    locustfile=Path(spec["locustfile"]) if spec["locustfile"] else None,
                    requests=(RequestSpec("ok", "GET", "/"),) if not spec["locustfile"] else ())
calling = time.time()
run = start_load(config, Path(spec["run_dir"]))
print(json.dumps({"imports_s": calling - before_imports, "calling": calling, "started": time.time()}), flush=True)
run.wait(60)
run.stop()
"""


@dataclass(frozen=True)
class Startup:
    first_request_s: float  # from the spawn of the first process to the first request Caddy logged
    peak_rss_mb: float
    peak_pss_mb: float
    harness: dict[str, float] = field(default_factory=dict)  # the driver's own times, harness side


def first_request_after(log: Path, moment: float) -> float | None:
    for line in log.read_text(errors="replace").splitlines():
        if '"handled request"' in line:
            ts = float(json.loads(line)["ts"])
            if ts >= moment:
                return ts
    return None


def startup_run(bench: Bench, log: Path, *, harness: bool, workers: int, builtin: bool = False) -> Startup:
    folder = bench.new_dir("startup")
    case = Case(wait="constant_throughput", users=8 * workers, seconds=4.0, processes=workers)
    locustfile = None if builtin else write_locustfile(folder, case, folder)
    if harness:
        spec = {"host": bench.host, "seconds": case.seconds, "users": case.users, "workers": workers,
                "pace": case.pace, "locustfile": str(locustfile) if locustfile else None,
                "run_dir": str(folder / "run")}
        argv = [sys.executable, "-c", DRIVER, json.dumps(spec)]
    else:
        argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(case.users),
                "-r", str(case.users), "-t", f"{case.seconds:g}s", "--host", bench.host, *LOCUST_FLAGS,
                *(["--processes", str(workers)] if workers > 1 else [])]
    spawned = time.time()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=locust_env(), cwd=folder,
                            start_new_session=True)
    watch = TreeWatch(proc.pid, 0.1)
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        watch.stop()
        procs.stop(proc)
        bench.started |= watch.pids
    first = first_request_after(log, spawned)
    times = json.loads(out.decode().strip().splitlines()[-1]) if harness else {}
    told = {"imports_s": times["imports_s"], "start_load_s": times["started"] - times["calling"],
            "call_to_first_s": (first or math.nan) - times["calling"]} if times else {}
    return Startup((first or math.nan) - spawned, watch.peak_rss_kb / 1024, watch.peak_pss_kb / 1024, told)


def startup(folder: Path, trials: int, started: set[int]) -> None:
    print("\n(4) start-up to the first request Caddy logged, and peak RSS of the process tree "
          "(8 users x 2 req/s per process, 4 s)")
    with caddy(folder / "startup-caddy", access_log=True) as (host, proc, log):
        started.add(proc.pid)
        bench = Bench(folder / "startup", host, started)
        runs: dict[str, Callable[[], Startup]] = {
            "bare, 1 process": lambda: startup_run(bench, log, harness=False, workers=1),
            "harness built-in, 1 process": lambda: startup_run(bench, log, harness=True, workers=1, builtin=True),
            "harness locustfile, 1 process": lambda: startup_run(bench, log, harness=True, workers=1),
            "bare, --processes 4": lambda: startup_run(bench, log, harness=False, workers=4),
            "harness locustfile, workers=4": lambda: startup_run(bench, log, harness=True, workers=4),
        }
        got: dict[str, list[Startup]] = {name: [] for name in runs}
        for trial in range(trials):
            for name in list(runs) if trial % 2 == 0 else list(reversed(runs)):
                got[name].append(runs[name]())
            print(f"  trial {trial + 1}/{trials} done")
    rows = []
    for name, results in got.items():
        told = [r.harness for r in results if r.harness]
        rows.append([name, spread_of([r.first_request_s for r in results], "{:.2f}"),
                     spread_of([t["imports_s"] for t in told], "{:.2f}") if told else "",
                     spread_of([t["start_load_s"] for t in told], "{:.2f}") if told else "",
                     spread_of([t["call_to_first_s"] for t in told], "{:.2f}") if told else "",
                     spread_of([r.peak_rss_mb for r in results], "{:.0f}"),
                     spread_of([r.peak_pss_mb for r in results], "{:.0f}")])
    print(table(["", "spawn -> first request s", "harness imports s", "start_load returns s",
                 "start_load call -> first request s", "peak RSS MB", "peak PSS MB"], rows))


# -- (5) the tail of real runs -----------------------------------------------------------------------------

def tail(folder: Path, runs: int, started: set[int]) -> None:
    from tests.integration.conftest import write_experiment

    print(f"\n(5) the run's tail: {runs} real `harness run` (local platform, phases 2s/6s/8s/5s, no fault)")
    rows = []
    for index in range(runs):
        path = write_experiment(folder / f"tail-{index}", f"tail-{index}")
        output = folder / f"tail-{index}" / "runs"
        began = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(path), "--output", str(output),
                                 "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO,
                                start_new_session=True)
        watch = TreeWatch(proc.pid, 0.5)
        try:
            _, err = proc.communicate(timeout=240)
        finally:
            watch.stop()
            procs.stop(proc)
            started |= watch.pids
        results = sorted(output.glob("*/result.json"))
        if not results:
            rows.append([f"#{index + 1}", "no result", "", "", "", err.decode()[-200:]])
            continue
        result = json.loads(results[-1].read_text())
        stop = result.get("load", {}).get("stop") or {}
        if not stop:
            rows.append([f"#{index + 1}", result["verdict"], "no load.stop", "", "", ""])
            continue
        rows.append([f"#{index + 1}", result["verdict"], f"{stop['after_last_phase_s']:.2f}", f"{stop['took_s']:.2f}",
                     f"{stop['tail_s']:.2f}", f"{time.monotonic() - began:.0f}"])
    print(table(["run", "verdict", "last phase end -> load stop asked s", "stop took s",
                 "last phase end -> evidence complete s", "whole run s"], rows))


def main() -> None:
    parser = arguments(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--trials", type=int, default=0, help="alternating trials per part (default 3; --quick 1)")
    options = parser.parse_args()
    setup_logging(options.verbose)
    trials = options.trials or (1 if options.quick else 3)
    short = options.quick
    print(machine_line())
    began = time.monotonic()
    started: set[int] = set()
    with tempfile.TemporaryDirectory(prefix="loadbench-", ignore_cleanup_errors=True) as scratch:
        folder = Path(scratch)
        try:
            with caddy(folder / "caddy") as (host, proc, _log):
                started.add(proc.pid)
                bench = Bench(folder / "runs", host, started)
                saturation(bench, trials, 4.0 if short else 6.0)
                paced(bench, trials, 6.0 if short else 10.0)
                workers(bench, trials, 4.0 if short else 6.0)
            startup(folder, trials, started)
            tail(folder, 1 if short else 3, started)
        finally:
            print(f"\nload average now: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
                  f"took {time.monotonic() - began:.0f} s")
            left = leftovers(started - {os.getpid()})
            print(f"processes left behind: {left or 'none'}")


if __name__ == "__main__":
    main()
