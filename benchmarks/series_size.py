"""How big series.json and the HTML report get, and how long the report takes to draw.

Synthetic but shaped like a real run (two SLOs, a fault in the middle, counts growing at 80 req/s),
so it needs no running parts: `.venv/bin/python benchmarks/series_size.py [--minutes M] [--step S]`.
The target: a 10-minute run at a 1 s scrape stays well under 1 MB.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness.reports.checks import Entry
from harness.reports.html import html_report
from harness.result.model import RunResult
from harness.result.series import LoadSeries, RunSeries, SliSeries, write_series


def synthetic(minutes: float, step: float) -> RunSeries:
    start = 1_796_000_000.123
    points = int(minutes * 60 / step)
    times = tuple(round(start + step * (k + 1), 3) for k in range(points))
    total = [80.0 * step * (k + 1) for k in range(points)]
    bad = [0.0] * points
    for k in range(points):  # 30 % bad while the fault is on (the middle third)
        bad[k] = bad[k - 1] + (24.0 * step if points // 3 <= k < 2 * points // 3 else 0.0) if k else 0.0
    good = tuple(t - b for t, b in zip(total, bad, strict=True))
    burn = tuple(float(f"{(0.3 if points // 3 <= k < 2 * points // 3 else 0.0) / 0.01 * 0.987654:.6g}")
                 for k in range(points))
    slis = tuple(SliSeries(slo=name, objective=0.99, abort_burn_rate=14.4, burn_window_s=30.0, time=times,
                           good=good, total=tuple(total), burn_rate=burn) for name in ("availability", "latency"))
    seconds = tuple(float(int(start) + s) for s in range(int(minutes * 60)))
    load = LoadSeries(time=seconds, achieved_rps=(79.0,) * len(seconds), requested_rps=(80.0,) * len(seconds))
    return RunSeries(step_s=step, start=start, end=start + minutes * 60, slis=slis, load=load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--step", type=float, default=1.0)
    args = parser.parse_args()
    series = synthetic(args.minutes, args.step)
    fault = {"start": series.start + args.minutes * 20, "end": series.start + args.minutes * 40}
    result = RunResult.model_validate({
        "experiment": "bench", "run_id": "bench", "verdict": "FAIL", "started": series.start, "ended": series.end,
        "phases": {"fault": fault},
        "faults": [{"name": "f", "type": "latency", "started": fault["start"], "ended": fault["end"]}]})
    with tempfile.TemporaryDirectory() as folder:
        size = write_series(series, Path(folder)).stat().st_size
    began = time.perf_counter()
    page = html_report([Entry("bench", "bench.yaml", result)], {"bench": (series, None)}, "bench", "FAIL")
    took = time.perf_counter() - began
    print(f"{args.minutes:g} min at a {args.step:g} s step, 2 SLOs: series.json {size / 1024:.0f} KiB "
          f"(target well under 1024 KiB); HTML report {len(page.encode()) / 1024:.0f} KiB, "
          f"drawn in {took * 1000:.0f} ms")


if __name__ == "__main__":
    main()
