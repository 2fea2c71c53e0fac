"""`harness run`: one experiment, start to verdict, reading as a list of named steps.

Every path out of a run (success, failure, exception, abort, Ctrl-C, SIGTERM) reverts every fault,
stops the load and the platform, and writes result.json.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness.errors import (
    EvidenceError,
    Halt,
    HarnessError,
    Inconclusive,
    LoadError,
    PlatformError,
    Refused,
    SpecError,
    UnsupportedError,
)
from harness.faults.base import FaultContext
from harness.judge.slo import SloJudgement
from harness.judge.verdict import EXIT_CODES, EXIT_INVALID, EXIT_REFUSED, combine
from harness.load.distributed import port_problem
from harness.load.driver import LoadRun, start_load
from harness.plan import FaultSlot, Plan, build_plan, fault_edge_warnings
from harness.platform.base import Platform
from harness.platform.factory import open_platform
from harness.prom.client import PromClient
from harness.result.series import write_series
from harness.run.cluster_checks import (
    ReadinessSampler,
    check_faults_before_start,
    refusing_by_policy,
    samples_readiness,
)
from harness.run.expectations import resolve_expectations
from harness.run.faultrunner import FaultRunner
from harness.run.interrupts import Interrupts
from harness.run.journal import Journal
from harness.run.judging import judge_all
from harness.run.load_summary import load_summary
from harness.run.loadconfig import load_config, local_workers
from harness.run.preflight import check_before_start
from harness.run.progress import ProgressSink
from harness.run.record import RunRecord
from harness.run.remediation import RemediationChain
from harness.run.remediation_proof import chain_targets, measure_chain
from harness.run.result_build import write_result
from harness.run.run_end import finish_last_second, needs_prometheus_after, settle, wait_unless_halted
from harness.run.series_capture import capture_series
from harness.run.tickers import run_tickers
from harness.run.timeline import Checkpoint, run_timeline
from harness.spec.loader import LoadedExperiment
from harness.spec.models import ExpectAlert

log = logging.getLogger(__name__)

@dataclass
class RunOptions:
    output: Path = Path("runs")
    run_dir: Path | None = None
    stop_file: Path | None = None
    progress: ProgressSink | None = None
    progress_every_s: float = 2.0
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    interrupts: Interrupts = field(default_factory=Interrupts)


def new_run_dir(options: RunOptions, name: str, now: float) -> tuple[str, Path]:
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = f"{stamp}-{name}"
    if options.run_dir is not None:
        return run_id, options.run_dir.resolve()
    output = options.output.resolve()  # children (Prometheus, Caddy) run in other working directories
    run_dir = output / run_id
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = output / f"{run_id}-{suffix}"
    return run_dir.name, run_dir


def run_experiment(loaded: LoadedExperiment, options: RunOptions) -> RunRecord:
    """Run one experiment and return its recorded state (result.json is already written)."""
    plan = build_plan(loaded)
    _refuse_unrunnable(loaded)
    if loaded.experiment.target.platform != "local" and loaded.experiment.remediation:
        raise UnsupportedError("`remediation` runs on platform local only for now (its Alertmanager calls the "
                               "harness's webhook); on an external platform, observe the alerts with `expect: alert` "
                               "(nothing was started)")
    if options.stop_file is not None and options.stop_file.exists():
        raise SpecError([f"--stop-file {options.stop_file} already exists: remove it first, or the run would halt "
                         "at once (nothing was started)"])
    run_id, run_dir = new_run_dir(options, loaded.name, options.clock())
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        problem = f"--output {options.output}: cannot create the run folder {run_dir}: {err.strerror}"
        raise SpecError([problem]) from None
    state = RunRecord(loaded.name, run_id, run_dir, loaded.experiment.target.platform, options.clock(),
                     slo_sources=dict(loaded.slo_sources),
                     source={"file": str(loaded.path), "fingerprint": loaded.fingerprint(),
                             "lines": loaded.check_lines()})
    faults = FaultRunner(Journal(run_dir), lambda slot: _fault_context(slot, loaded, platform_ref, run_dir, run_id),
                         options.clock, options.interrupts.shield, _halting_sleep(options))
    platform_ref: list[Platform] = []
    interrupts = options.interrupts
    interrupts.stop_file = options.stop_file
    interrupts.install()
    try:
        with ExitStack() as cleanup:
            _execute(loaded, plan, state, faults, platform_ref, cleanup, options)
    except Halt as halt:
        state.halted = halt.reason
    except Refused as err:
        state.verdict, state.verdict_status, state.reason = "INCONCLUSIVE", "REFUSED", str(err)
        state.exit_code = EXIT_REFUSED
    except Inconclusive as err:
        state.verdict, state.reason = "INCONCLUSIVE", str(err)
    except SpecError as err:
        state.verdict_status, state.reason, state.exit_code = "INVALID", str(err), EXIT_INVALID
        state.verdict = "ERROR"
    except (PlatformError, LoadError, EvidenceError, HarnessError) as err:
        state.verdict, state.reason = "ERROR", f"{type(err).__name__}: {err}"
    except Exception as err:
        log.exception("the run failed unexpectedly")
        state.verdict, state.reason = "ERROR", f"unexpected {type(err).__name__}: {err}"
    finally:
        interrupts.uninstall()
        state.halted = state.halted or interrupts.reason  # a signal that arrived while shielded
        state.faults = list(faults.records.values())
        state.ended = options.clock()
        _conclude(state)
        write_result(state)
    return state


def _refuse_unrunnable(loaded: LoadedExperiment) -> None:
    """A valid file can still ask for something this run cannot do: say so before starting anything."""
    experiment = loaded.experiment
    alerts = [e for e in experiment.expect if isinstance(e, ExpectAlert)]
    if experiment.target.platform == "local" and alerts and not loaded.alert_rules and experiment.alerting is None:
        raise SpecError([f"{loaded.path}: expect alert {alerts[0].alert!r}: the local platform's Prometheus has no "
                         "alerting rules, so no alert can fire; name your rules file in target.local.alert_rules "
                         "(nothing was started)"])
    master = experiment.load.master_address
    if master is not None and (experiment.load.remote_workers or local_workers(experiment.load) > 1):
        problem = port_problem(*master)
        if problem is not None:
            line = loaded.line_of(("load", "master"))
            raise SpecError([f"{loaded.path}{f':{line}' if line else ''}: load.master: the load master cannot "
                             f"listen: {problem}; choose another port (nothing was started)"])


def _halting_sleep(options: RunOptions) -> Callable[[float], None]:
    """A sleep between a fault's verify attempts that still notices the kill switch and signals."""
    def sleep(seconds: float) -> None:
        options.interrupts.check()
        options.sleep(seconds)

    return sleep


def _fault_context(slot: FaultSlot, loaded: LoadedExperiment, platform_ref: list[Platform],
                   run_dir: Path, run_id: str) -> FaultContext:
    platform = platform_ref[0]
    query = _quick_client(loaded, platform).query if slot.fault.verify is not None else None
    return FaultContext(platform, run_dir, loaded.path, slot.index, run_id, query=query)


def _execute(loaded: LoadedExperiment, plan: Plan, state: RunRecord, faults: FaultRunner,
             platform_ref: list[Platform], cleanup: ExitStack, options: RunOptions) -> None:
    interrupts = options.interrupts
    chain = RemediationChain(loaded, state.run_dir)
    state.remediation = chain.state
    cleanup.callback(_shielded, interrupts, chain.finish)  # also when the platform never starts
    chain.prepare()
    log.info("starting platform %s", loaded.experiment.target.platform)
    platform = refusing_by_policy(loaded, lambda: open_platform(loaded, state.run_dir, chain.state.rule_files,
                                                                chain.webhook))
    cleanup.callback(_shielded, interrupts, platform.close)
    cleanup.callback(_shielded, interrupts, chain.finish)  # runbooks end before the platform they act on
    platform_ref.append(platform)
    check_faults_before_start(loaded, plan, faults.context)
    state.prometheus_url = platform.prometheus_url
    chain.platform_ready(platform.runbook_variables(), platform.prometheus_url)
    client = _client(loaded, platform)
    client.check_reachable()
    log.info("Prometheus at %s; checking every query before anything is injected", client.url)
    first_fault = plan.phase("fault").start
    plan, waiting = check_before_start(client, loaded, plan, options.clock(), may_wait=first_fault > 0)
    state.warnings.extend(plan.warnings)
    for warning in fault_edge_warnings(loaded.experiment, plan):  # the scrape interval is known only now
        log.warning("%s", warning)
        state.warnings.append(warning)
    load = _start_load(loaded, plan, platform, state)
    log.info("load started against %s; the run takes %.0fs", platform.load_host, plan.duration)
    cleanup.callback(_shielded, interrupts, load.stop)
    sampler = ReadinessSampler(platform, options.clock).start() if samples_readiness(loaded) else None
    if sampler is not None:
        cleanup.callback(sampler.stop)
    cleanup.callback(_shielded, interrupts, faults.revert_all)
    current = [plan]
    checkpoints = [_recheck(client, loaded, current, state, options, waiting)] if waiting else []
    try:
        tickers = run_tickers(loaded, plan, _quick_client(loaded, platform), load, faults, state, options.progress,
                              options.progress_every_s)
        run_timeline(plan, load.started_at, faults, state.phases, tickers, interrupts, options.clock, options.sleep,
                     checkpoints)
    except Halt as halt:
        state.halted = halt.reason
        log.warning("halting: %s; reverting every fault now", halt.reason)
        _cut_short(state.phases, options.clock())
    with interrupts.shield():
        faults.revert_all()
        chain.finish()  # a runbook still running when the run ends is cancelled: it did not finish in time
    plan = current[0]
    wait_unless_halted(lambda: finish_last_second(state, options.clock, options.sleep), state)
    with interrupts.shield():
        load.stop()
    if needs_prometheus_after(loaded, plan):
        wait_unless_halted(lambda: settle(plan, state, client, load, options.clock, options.sleep), state)
    log.info("collecting the evidence and judging")
    with interrupts.shield():
        faults.verify_all()
        state.load = load_summary(load, state, options.clock())
        state.faults = list(faults.records.values())
        state.scrape_interval_s, state.interval_source = plan.scrape_interval_s, plan.interval_source
        state.slos = judge_all(client, loaded, plan, state, load, options.clock())
        if sampler is not None:
            state.readiness = sampler.stop()
        state.chain = measure_chain(client, loaded, plan, state) if chain_targets(loaded) else []
        state.expectations = resolve_expectations(client, loaded, plan, state, faults)
        _capture_series(client, loaded, plan, state, load)


def _capture_series(client: PromClient, loaded: LoadedExperiment, plan: Plan, state: RunRecord,
                    load: LoadRun) -> None:
    """The plots' series, before the platform stops; a report without them still has every number."""
    try:
        series = capture_series(client, loaded, plan, state, load)
        if series is not None:
            write_series(series, state.run_dir)
    except Exception as err:  # the verdict is already decided: a plot must never change it
        log.warning("the series for the report's plots could not be captured: %s", err)
        state.warnings.append(f"no plots in the report: the series could not be captured ({err})")


def _recheck(client: PromClient, loaded: LoadedExperiment, current: list[Plan], state: RunRecord, options: RunOptions,
             waiting: list[str]) -> Checkpoint:
    """Metrics with no series before the load (a fresh system) are checked again under load, before the
    first fault: at the end of the warmup, or at the fault phase's start when there is no warmup."""
    plan = current[0]
    warmup = plan.phase("warmup")
    offset = warmup.end if warmup.length > 0 else plan.phase("fault").start
    log.info("no series yet for %s; checked again after %.0fs of load, before any fault", "; ".join(waiting), offset)

    def check() -> None:
        current[0], _ = check_before_start(
            client, loaded, current[0], options.clock(),
            stage=f"still none after {offset:g}s of load; no fault was injected")
        state.warnings.extend(w for w in current[0].warnings if w not in state.warnings)

    return offset, check


def _shielded(interrupts: Interrupts, call: Callable[[], object]) -> None:
    with interrupts.shield():
        try:
            call()
        except Exception as err:
            log.error("cleanup step failed: %s", err)


def _client(loaded: LoadedExperiment, platform: Platform, timeout_s: float | None = None,
            retries: int = 2) -> PromClient:
    config = loaded.experiment.prometheus
    headers = dict(config.headers) if config and loaded.experiment.target.platform != "local" else {}
    timeout = timeout_s if timeout_s is not None else (config.timeout if config else 10.0)
    return PromClient(platform.prometheus_url, headers, timeout, retries=retries)


def _quick_client(loaded: LoadedExperiment, platform: Platform) -> PromClient:
    """For the checks between timeline events: a slow answer must not delay a revert that falls due."""
    abort = loaded.experiment.abort
    return _client(loaded, platform, min(2.0, abort.check_every) if abort else 2.0, retries=0)


def _start_load(loaded: LoadedExperiment, plan: Plan, platform: Platform, state: RunRecord) -> LoadRun:
    host = platform.load_host
    if host is None:
        raise LoadError("no host to load: set load.host in the experiment or host in the load profile")
    load = start_load(load_config(loaded, plan, host), state.run_dir)
    state.load_started = load.started_at
    return load


def _cut_short(phases: dict[str, dict[str, float]], now: float) -> None:
    """A phase running when the run halts ends at the halt: what follows (reverts, stopping) is not in it."""
    for phase in phases.values():
        if "start" in phase and "end" not in phase:
            phase["end"] = now


def _conclude(state: RunRecord) -> None:
    reverts_failed = [f.name for f in state.faults if f.reverted is False]
    if reverts_failed:
        # loud on every path: in the output, in result.json and as the exit code
        state.problems.append(f"ROLLBACK FAILED for {', '.join(reverts_failed)}: run `harness rollback "
                              f"{state.run_dir}`")
        state.verdict, state.exit_code = "ERROR", EXIT_CODES["ERROR"]
        state.reason = f"rollback failed for {', '.join(reverts_failed)}" + (f"; {state.reason}" if state.reason
                                                                              else "")
        return
    if state.exit_code is not None and state.verdict is not None:
        return
    unreachable = [f for f in state.faults if f.environment_failed]
    if unreachable and state.verdict != "ERROR":
        # the platform failed the harness (API server gone, RBAC): the environment's fault, not the evidence's
        state.problems.extend(f"fault {f.name} was not injected: {f.error}" for f in unreachable)
        state.verdict, state.exit_code = "ERROR", EXIT_CODES["ERROR"]
        state.reason = f"fault {unreachable[0].name} was not injected: {unreachable[0].error}"
        return
    if state.verdict == "ERROR" or (state.verdict == "INCONCLUSIVE" and not state.slos):
        state.exit_code = EXIT_CODES[state.verdict]
        return
    verdicts = [s.verdict for s in state.slos] + [e.verdict for e in state.expectations]
    for problem in state.evidence_problems:
        verdicts.append("INCONCLUSIVE")
        state.problems.append(problem)
    for record in state.faults:
        if record.check is not None and record.check.took_effect is not True:
            verdicts.append("INCONCLUSIVE")
            what = "did not take effect" if record.check.took_effect is False else "could not be confirmed"
            state.problems.append(f"fault {record.name} {what}: {record.check.observed}")
    overall = "ABORTED" if state.halted is not None else combine(verdicts)
    state.verdict = overall
    state.reason = state.halted or _remediation_reason(state, overall) or _reason(state.slos, overall) or state.reason
    state.exit_code = EXIT_CODES[overall]


def _remediation_reason(state: RunRecord, verdict: str) -> str:
    """A remediation that failed is the cause; the SLO that then stays down is its consequence."""
    failed = [e for e in state.expectations if e.kind == "remediated" and e.verdict == verdict]
    return "; ".join(f"remediation of {e.target}: {e.reason}" for e in failed)


def _reason(slos: list[SloJudgement], verdict: str) -> str:
    return "; ".join(f"{s.name}: {s.reason}" for s in slos if s.verdict == verdict)
