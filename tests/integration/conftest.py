"""Fixtures for end-to-end runs: small experiment files, the CLI as a subprocess, and a leftover check.

Every run here is a real one (Prometheus, Caddy, the demo shop, the fault proxy and Locust), with
short phases so the whole set stays within a few minutes on two cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.spec.units import parse_duration

REPO = Path(__file__).resolve().parents[2]
PROCESS_PATTERN = "prometheus|caddy|locust|harness.platform"
RUN_TIMEOUT_S = 240.0
DEMO_TIMEOUT_S = 600.0
LEFTOVER_GRACE_S = 15.0  # a killed harness's children get SIGTERM; the supervisor takes up to 3 s

EDGE_AVAILABILITY = {
    "bad": 'caddy_http_request_duration_seconds_count{code=~"5.."}',
    "total": "caddy_http_request_duration_seconds_count",
}
EDGE_LATENCY = {"histogram": "caddy_http_request_duration_seconds", "threshold": "250ms"}
SHORT_PHASES = {"warmup": "2s", "baseline": "6s", "fault": "8s", "recovery": "5s"}
PROFILE = {
    "apiVersion": "harness/v1",
    "kind": "LoadProfile",
    "metadata": {"name": "integration-steady"},
    "requests": [
        {"name": "catalog", "method": "GET", "path": "/api/catalog", "weight": 6},
        {"name": "item", "method": "GET", "path": "/api/items/42", "weight": 2},
        {"name": "checkout", "method": "POST", "path": "/api/checkout", "weight": 2,
         "json": {"item": 42, "qty": 1}},
    ],
    "stages": [{"duration": "5s", "users": 40, "spawn_rate": 40}],
    "wait": {"throughput": 2},
}


def availability_slo(name: str = "shop-availability", objective: float = 99) -> dict[str, Any]:
    return {"name": name, "objective": objective, "sli": {"ratio": dict(EDGE_AVAILABILITY)}}


def latency_slo(name: str = "shop-latency", objective: float = 95) -> dict[str, Any]:
    return {"name": name, "objective": objective, "sli": {"latency": dict(EDGE_LATENCY)}}


def write_experiment(folder: Path, name: str, **overrides: Any) -> Path:
    """An experiment file (and its load profile) in folder; top-level keys of overrides replace defaults.

    `local` entries are merged into `target.local` (replicas 3, restart_delay 1s by default).
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profile.yaml").write_text(yaml.safe_dump(PROFILE, sort_keys=False))
    local = {"replicas": 3, "restart_delay": "1s", **overrides.pop("local", {})}
    doc: dict[str, Any] = {
        "apiVersion": "harness/v1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "target": {"platform": "local", "local": local},
        "slos": [availability_slo()],
        "load": {"profile": "profile.yaml"},
        "phases": dict(SHORT_PHASES),
        "faults": [],
        "hypothesis": [{"slo": "shop-availability"}],
    }
    doc.update(overrides)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def with_phases(source: Path, target: Path, phases: Mapping[str, float]) -> Path:
    """A copy of an experiment file with other phase lengths, for a test whose point is not the shipped
    length: every fault keeps its share of the fault phase (`at` and `duration` scaled alike), and
    everything else is as in the source."""
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    scale = phases["fault"] / parse_duration(doc["phases"]["fault"])
    doc["phases"] = {name: f"{seconds:g}s" for name, seconds in phases.items()}
    for fault in doc.get("faults", []):
        for key in ("at", "duration"):
            if key in fault:
                fault[key] = f"{round(parse_duration(fault[key]) * scale, 1):g}s"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return target


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int
    result: dict[str, Any]
    stdout: str
    stderr: str
    run_dir: Path
    seconds: float

    def slo(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = next(s for s in self.result["slos"] if s["name"] == name)
        return found

    def fault(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = next(f for f in self.result["faults"] if f["name"] == name)
        return found


def harness_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def run_dir_of(output: Path, timeout_s: float = 0.0) -> Path:
    """The single run folder a run creates under its --output folder."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = sorted(p for p in output.glob("*") if p.is_dir()) if output.is_dir() else []
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise AssertionError(f"expected one run folder in {output}, found {found}")
        if time.monotonic() >= deadline:
            raise AssertionError(f"no run folder appeared in {output}")
        time.sleep(0.1)


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def run_cli(experiment: Path, output: Path, *extra: str, timeout_s: float = RUN_TIMEOUT_S) -> RunOutcome:
    """`harness run` as a subprocess, to its end: (exit code, result.json, stdout, stderr)."""
    started = time.monotonic()
    done = subprocess.run(harness_argv("run", str(experiment), "--output", str(output), "--quiet", *extra),
                          capture_output=True, text=True, timeout=timeout_s, cwd=REPO, check=False)
    run_dir = run_dir_of(output)
    result = read_json(run_dir / "result.json")
    return RunOutcome(done.returncode, result, done.stdout, done.stderr, run_dir, time.monotonic() - started)


@dataclass
class RunningCli:
    """A `harness run` still going, with its output in files (no pipe can fill up and block it)."""

    proc: subprocess.Popen[bytes]
    output: Path
    stdout_path: Path
    stderr_path: Path

    def run_dir(self, timeout_s: float = 60.0) -> Path:
        return run_dir_of(self.output, timeout_s)

    def journal(self) -> list[dict[str, Any]]:
        path = self.run_dir() / "rollback.jsonl"
        if not path.is_file():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def wait_for_journal(self, event: str, count: int = 1, timeout_s: float = 90.0) -> list[dict[str, Any]]:
        """Entries of this event once `count` of them are in rollback.jsonl; fails if the run ends first."""
        deadline = time.monotonic() + timeout_s
        self.run_dir(timeout_s)
        while time.monotonic() < deadline:
            entries = [e for e in self.journal() if e["event"] == event]
            if len(entries) >= count:
                return entries
            if self.proc.poll() is not None:
                raise AssertionError(f"the run exited with {self.proc.returncode} before {count} "
                                     f"{event!r} journal entries; stderr: {self.stderr()[-2000:]}")
            time.sleep(0.1)
        raise AssertionError(f"no {count} {event!r} journal entries within {timeout_s:g}s")

    def wait(self, timeout_s: float) -> int:
        return self.proc.wait(timeout=timeout_s)

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@pytest.fixture
def start_cli(tmp_path: Path) -> Iterator[Callable[..., RunningCli]]:
    """Start `harness run` in the background; a run still going at the end of the test is killed."""
    started: list[RunningCli] = []

    def start(experiment: Path, *extra: str) -> RunningCli:
        output = tmp_path / f"runs-{len(started)}"
        out, err = tmp_path / f"stdout-{len(started)}.txt", tmp_path / f"stderr-{len(started)}.txt"
        with open(out, "wb") as out_file, open(err, "wb") as err_file:
            proc = subprocess.Popen(harness_argv("run", str(experiment), "--output", str(output), "--quiet",
                                                 *extra), stdout=out_file, stderr=err_file, cwd=REPO,
                                    start_new_session=True)
        running = RunningCli(proc, output, out, err)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait(timeout=10)


# -- no process left behind ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    cmdline: str

    def __str__(self) -> str:
        return f"{self.pid} {self.cmdline}"


def matching_processes() -> list[Proc]:
    done = subprocess.run(["pgrep", "-a", "-f", PROCESS_PATTERN], capture_output=True, text=True, check=False)
    found = []
    for line in done.stdout.splitlines():
        pid, _, cmdline = line.partition(" ")
        if int(pid) != os.getpid():
            found.append(Proc(int(pid), cmdline))
    return found


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def _is_ours(proc: Proc, base: str) -> bool:
    """Started by this test session: under its temp folder (argv or cwd), or a descendant of pytest."""
    try:
        cwd = os.readlink(f"/proc/{proc.pid}/cwd")
    except OSError:
        cwd = ""
    if base in proc.cmdline or cwd.startswith(base):
        return True
    pid = proc.pid
    for _ in range(64):
        pid = _parent(pid)
        if pid <= 1:
            return False
        if pid == os.getpid():
            return True
    return False


def _descends_from(pid: int, roots: set[int]) -> bool:
    for _ in range(64):
        if pid in roots:
            return True
        pid = _parent(pid)
        if pid <= 1:
            return False
    return False


def leftovers(before: set[int], base: str, resident: set[int] | None = None) -> list[Proc]:
    """Our processes not running before, except those under a `resident` root (kept on purpose)."""
    return [p for p in matching_processes()
            if p.pid not in before and _is_ours(p, base) and not _descends_from(p.pid, resident or set())]


def wait_no_leftovers(before: set[int], base: str, grace_s: float = LEFTOVER_GRACE_S,
                      resident: set[int] | None = None) -> list[Proc]:
    deadline = time.monotonic() + grace_s
    remaining = leftovers(before, base, resident)
    while remaining and time.monotonic() < deadline:
        time.sleep(0.2)
        remaining = leftovers(before, base, resident)
    return remaining


@pytest.fixture(scope="session")
def processes_at_start() -> set[int]:
    return {p.pid for p in matching_processes()}


@pytest.fixture(scope="session")
def resident_processes() -> set[int]:
    """Roots of the processes a module-scoped fixture keeps running across its tests (a shared stack):
    they and their children are not a test's leftovers. The fixture adds them, and removes them and
    checks they are gone at its own end."""
    return set()


@pytest.fixture(autouse=True)
def no_leftover_processes(processes_at_start: set[int], resident_processes: set[int],
                          tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fail the test when a process it started (Prometheus, Caddy, Locust, the demo shop) remains."""
    base = str(tmp_path_factory.getbasetemp())
    yield
    remaining = wait_no_leftovers(processes_at_start, base, resident=resident_processes)
    for proc in remaining:  # ours (checked above): clean up so the next test starts from nothing
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    if remaining:
        pytest.fail("processes left behind:\n" + "\n".join(map(str, remaining)), pytrace=False)


# -- runs shared by several tests ---------------------------------------------------------------------


def journal_entries(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "rollback.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def replica_state(run_dir: Path) -> Mapping[int, Mapping[str, Any]]:
    """The supervisor's last state file: replica index -> its entry (pid, restarts, ...)."""
    state = read_json(run_dir / "platform" / "supervisor-state.json")
    return {int(r["index"]): r for r in state["replicas"]}


@dataclass(frozen=True)
class GameDayOutcome:
    """A finished `harness gameday` or `harness demo`: its output, its folder, and what it left running."""

    exit_code: int
    stdout: str
    stderr: str
    folder: Path
    leftovers: list[Proc]

    def run(self, experiment: str) -> RunOutcome:
        """One run of the day as `run_cli` would give it, with its own summary out of the day's stdout."""
        [entry] = [r for r in read_json(self.folder / "gameday.json")["runs"] if r["experiment"] == experiment]
        run_dir = self.folder / entry["run_dir"]
        result = read_json(run_dir / "result.json")
        return RunOutcome(int(result["exit_code"]), result, run_summary(self.stdout, experiment), self.stderr,
                          run_dir, 0.0)


def run_summary(stdout: str, experiment: str) -> str:
    """The summary a game day printed for one experiment: from its verdict line to its result line."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{experiment}: "))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("  result: "))
    return "\n".join(lines[start:end + 1]) + "\n"


@pytest.fixture(scope="session")
def demo_day(tmp_path_factory: pytest.TempPathFactory) -> GameDayOutcome:
    """`harness demo` as the README runs it: gamedays/demo.yaml and its experiments exactly as shipped.

    It runs once (about four minutes); its run folders also serve the tests of the replica kill and of
    the remediation proof, which would otherwise run the same files again.
    """
    base = tmp_path_factory.mktemp("demo")
    done = subprocess.run(harness_argv("demo", "--output", str(base / "runs"), "--quiet"), capture_output=True,
                          text=True, timeout=DEMO_TIMEOUT_S, cwd=REPO, check=False)
    assert (base / "runs").is_dir(), done.stdout + done.stderr[-3000:]
    folder = run_dir_of(base / "runs")
    return GameDayOutcome(done.returncode, done.stdout, done.stderr, folder, wait_no_leftovers(set(), str(base)))


@pytest.fixture(scope="session")
def pod_kill_run(demo_day: GameDayOutcome) -> RunOutcome:
    """The demo's first run (experiments/shop-survives-replica-kill.yaml): one replica of three killed
    under steady load; the edge hides it and the supervisor brings it back."""
    return demo_day.run("shop-survives-replica-kill")
