"""What runs beside the timeline, each on its own interval: live progress, the abort guard, the alert
watch and the load workers' watch."""

from __future__ import annotations

from harness.errors import Halt
from harness.load.driver import LoadRun
from harness.plan import Plan
from harness.prom.client import PromClient
from harness.run.faultrunner import FaultRunner
from harness.run.guard import AbortGuard, watched_slis
from harness.run.load_summary import LoadWatch
from harness.run.progress import Progress, ProgressSink
from harness.run.record import RunRecord
from harness.run.timeline import Ticker
from harness.spec.loader import LoadedExperiment


def run_tickers(loaded: LoadedExperiment, plan: Plan, client: PromClient, load: LoadRun, faults: FaultRunner,
                state: RunRecord, progress: ProgressSink | None, progress_every_s: float) -> list[Ticker]:
    tickers = []
    watch = state.remediation.alertmanager_watch if state.remediation is not None else None
    if watch is not None:
        tickers.append(Ticker(1.0, watch.tick))
    tickers.append(Ticker(1.0, LoadWatch(load, state).tick))
    if progress is not None:
        tickers.append(Ticker(progress_every_s, Progress(plan, client, load, faults, state, progress, loaded).tick))
    abort = loaded.experiment.abort
    if abort is not None:
        guard = AbortGuard(abort, watched_slis(loaded, plan), load_record=load.record_now)

        def check(now: float) -> None:
            if faults.active_count == 0:
                return
            reason = guard.check(client, now)
            state.abort_checks = guard.checks
            if reason is not None:
                raise Halt(reason)

        tickers.append(Ticker(abort.check_every, check))
    return tickers
