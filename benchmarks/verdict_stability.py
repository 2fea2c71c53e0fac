"""How stable the verdicts are: the same experiment run several times must give the same verdict.

Runs each bundled experiment (local platform) and two designs against a system the harness did not
start (three shop replicas behind HAProxy, their own Prometheus at a 1 s scrape): a replica paused
behind the edge (expected PASS) and an open-model load against every replica paused (expected
FAIL). Prints, per experiment, the verdict counts, the run times, and the reason of every run whose
verdict differs from the expected one. A flaky verdict is a bug: a gate that says PASS one time and
INCONCLUSIVE the next on the same system gets switched off.

    .venv/bin/python benchmarks/verdict_stability.py [--quick] [--repeat N]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the external system is the test suite's own fixture

from _common import Spread, arguments, leftovers, machine_line, scratch, setup_logging, table  # noqa: E402

from tests.integration.external_system import ExternalSystem, external_system  # noqa: E402

RUN_TIMEOUT_S = 300.0
REQUESTS = [
    {"name": "catalog", "method": "GET", "path": "/api/catalog", "weight": 8},
    {"name": "checkout", "method": "POST", "path": "/api/checkout", "weight": 2, "json": {"item": 42, "qty": 1}},
]
EDGE_AVAILABILITY = {
    "bad": 'haproxy_backend_http_responses_total{proxy="shop",code="5xx"}',
    "total": 'haproxy_backend_http_responses_total{proxy="shop"}',
}


@dataclass(frozen=True)
class Outcome:
    verdict: str
    exit_code: int
    seconds: float
    reason: str


def run_experiment(path: Path, output: Path) -> Outcome:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(path), "--output", str(output), "--quiet"],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO, check=False)
    seconds = time.monotonic() - started
    runs = sorted(p for p in output.glob("*") if p.is_dir())
    if not runs or not (runs[-1] / "result.json").is_file():
        return Outcome("NO RESULT", done.returncode, seconds, done.stderr.strip()[-300:])
    result: dict[str, Any] = json.loads((runs[-1] / "result.json").read_text(encoding="utf-8"))
    return Outcome(result["verdict"], done.returncode, seconds, result.get("reason") or "")


def external_experiment(folder: Path, system: ExternalSystem, name: str, *, slo: dict[str, Any],
                        fault: dict[str, Any], load: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    profile = {"apiVersion": "harness/v1", "kind": "LoadProfile", "metadata": {"name": f"{name}-load"},
               "requests": REQUESTS, **load}
    (folder / "profile.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    experiment = {
        "apiVersion": "harness/v1", "kind": "Experiment", "metadata": {"name": name},
        "target": {"platform": "external"},
        "prometheus": {"url": system.prometheus_url},
        "slos": [slo],
        "load": {"profile": "profile.yaml", "host": system.edge_url},
        "phases": {"warmup": "2s", "baseline": "8s", "fault": "10s", "recovery": "6s"},
        "faults": [fault],
        "hypothesis": [{"slo": slo["name"]}],
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    return path


def paused_behind_edge(folder: Path, system: ExternalSystem) -> Path:
    pid = str(system.replica_pids["app2"])
    return external_experiment(
        folder, system, "external-paused-replica",
        slo={"name": "edge-availability", "objective": 98, "sli": {"ratio": EDGE_AVAILABILITY}},
        fault={"name": "pause-app2", "type": "process", "at": "2s", "duration": "6s",
               "start": ["kill", "-STOP", pid], "stop": ["kill", "-CONT", pid]},
        load={"stages": [{"duration": "5s", "users": 30, "spawn_rate": 30}], "wait": {"throughput": 2}})


def everything_stuck(folder: Path, system: ExternalSystem) -> Path:
    pids = [str(pid) for pid in system.replica_pids.values()]
    return external_experiment(
        folder, system, "external-all-paused-open-model",
        slo={"name": "client-availability", "objective": 99, "sli": {"client": {}}},
        fault={"name": "pause-all", "type": "process", "at": "2s", "duration": "5s",
               "start": ["kill", "-STOP", *pids], "stop": ["kill", "-CONT", *pids]},
        load={"arrival": {"rate": 40, "max_in_flight": 20}, "timeout": "2s"})


def bundled_experiment(name: str) -> Callable[[Path], Path]:
    source = REPO / "experiments" / f"{name}.yaml"
    return lambda _folder: source


def repeat(name: str, expected: str, runs: int, make: Callable[[Path], Path], folder: Path,
           results: dict[str, tuple[str, list[Outcome]]]) -> None:
    outcomes = []
    for index in range(runs):
        path = make(folder / f"{name}-{index}")
        outcome = run_experiment(path, folder / f"{name}-{index}" / "runs")
        print(f"  {name} #{index + 1}: {outcome.verdict} (exit {outcome.exit_code}) in {outcome.seconds:.0f}s")
        outcomes.append(outcome)
    results[name] = (expected, outcomes)


def main() -> None:
    parser = arguments(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each experiment (default 3; --quick: 1)")
    options = parser.parse_args()
    setup_logging(options.verbose)
    runs = 1 if options.quick else max(1, options.repeat)
    print(machine_line())
    print(f"each experiment {runs} time(s)")
    results: dict[str, tuple[str, list[Outcome]]] = {}
    started_pids: set[int] = set()
    with scratch("verdicts") as folder:
        bundled = {"shop-survives-replica-kill": "PASS", "checkout-latency-regression": "FAIL"}
        for name, expected in bundled.items():
            repeat(name, expected, runs, bundled_experiment(name), folder, results)
        with external_system(folder / "system", scrape_interval_s=1.0) as system:
            repeat("external-paused-replica", "PASS", runs, lambda f: paused_behind_edge(f, system), folder,
                   results)
            repeat("external-all-paused-open-model", "FAIL", runs, lambda f: everything_stuck(f, system), folder,
                   results)
            started_pids = set(system.pids())
            left_paused = system.stopped_nodes()
    rows = []
    for name, (expected, outcomes) in results.items():
        counts = Counter(o.verdict for o in outcomes)
        shown = ", ".join(f"{verdict} {n}" for verdict, n in counts.most_common())
        rows.append([name, expected, shown, f"{sum(c for v, c in counts.items() if v == expected)}/{len(outcomes)}",
                     Spread.of(o.seconds for o in outcomes).show("{:.0f}")])
    print()
    print(table(["experiment", "expected", "verdicts", "as expected", "seconds min / median / max"], rows))
    outliers = [(name, o) for name, (expected, outcomes) in results.items() for o in outcomes if o.verdict != expected]
    print()
    print("runs with another verdict than expected:" if outliers else "runs with another verdict than expected: none")
    for name, outcome in outliers:
        print(f"  {name}: {outcome.verdict}: {outcome.reason}")
    print(f"replicas left paused: {', '.join(left_paused) or 'none'}")
    left = leftovers(started_pids)
    print(f"processes left behind: {', '.join(map(str, left)) or 'none'}")


if __name__ == "__main__":
    main()
