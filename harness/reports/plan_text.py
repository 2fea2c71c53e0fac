"""`harness plan`: the timeline, the faults, the blast radius and the exact PromQL, as text."""

from __future__ import annotations

from decimal import Decimal
from typing import get_args
from urllib.parse import urlsplit

from harness.judge.slo import budget_ratio, z_for
from harness.judge.stats import min_events_to_pass
from harness.load.config import default_max_in_flight
from harness.plan import START_AND_JUDGE_S, Plan, build_plan, fault_edge_warnings, judged_window, window_queries
from harness.spec.alerting import alerting_slos
from harness.spec.faults import ChaosToolkit, FaultBase, HttpFault, ProcessFault
from harness.spec.gameday import GameDay, LoadedGameDay
from harness.spec.loader import LoadedExperiment
from harness.spec.models import (
    ClientSLI,
    ExpectAlert,
    ExpectRecovers,
    ExpectRemediated,
    ExpectReplicasReady,
    Hypothesis,
    KubernetesTarget,
)
from harness.spec.units import format_duration, format_percent, parse_duration, parse_percent


def _shown(fault: FaultBase, key: str, value: object) -> str:
    """A fault's field as the file writes it (`200ms`, `5%`), not as seconds or a bare percent number."""
    field = type(fault).model_fields[key]
    # an optional field (`Duration | None`) keeps its parser on the Annotated member of the union
    metadata = [*field.metadata, *(m for arg in get_args(field.annotation) for m in getattr(arg, "__metadata__", ()))]
    parsers = {getattr(m, "func", None) for m in metadata}
    if parse_duration in parsers and isinstance(value, float):
        return format_duration(value)
    if parse_percent in parsers and isinstance(value, Decimal):
        return format_percent(value)
    return str(value)


def _selector(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items())


def _url(url: str) -> str:
    """A URL without its query string or credentials (either may hold a secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _commands(fault: FaultBase) -> list[str]:
    """What a fault runs, so a reviewer sees it before anything is started."""
    if isinstance(fault, ProcessFault):
        return [f"start: {' '.join(fault.start)}", f"stop: {' '.join(fault.stop)}"]
    if isinstance(fault, HttpFault):
        return [f"start: {fault.start.method} {_url(fault.start.url)}",
                f"stop: {fault.stop.method} {_url(fault.stop.url)}"]
    if isinstance(fault, ChaosToolkit):
        lines = []
        for key in ("action", "rollback"):
            activity = getattr(fault, key)
            provider = activity.get("provider") if isinstance(activity, dict) else None
            if isinstance(provider, dict):
                lines.append(f"{key}: {provider.get('module')}.{provider.get('func')}")
        return lines
    return []


def _extras(fault: FaultBase) -> list[str]:
    lines = [f"    {line}" for line in _commands(fault)]
    if fault.verify is not None:
        check = (f"query {fault.verify.query}" if fault.verify.query is not None else
                 f"probe {fault.verify.probe.method} {_url(fault.verify.probe.url)}" if fault.verify.probe else "")
        lines.append(f"    verify: {check} within {format_duration(fault.verify.within)}")
    for target in fault.expect_down:
        lines.append(f"    expect down: {_selector(target)}")
    return lines


def _fault_line(loaded: LoadedExperiment, slot_index: int, plan: Plan) -> str:
    slot = plan.faults[slot_index]
    fault = slot.fault
    fields = fault.model_dump(exclude={"name", "type", "at", "selector", "duration", "verify", "expect_down"},
                             exclude_none=True)
    shown = ", ".join(f"{k}={_shown(fault, k, v)}" for k, v in fields.items()
                      if k not in ("action", "rollback", "start", "stop") and (k, v) != ("mode", "delete"))
    aim = f"replicas matching {_selector(fault.selector)}" if fault.selector else "all replicas of the target"
    kubernetes = loaded.experiment.target.kubernetes
    if loaded.experiment.target.platform == "kubernetes" and kubernetes is not None:
        pods = f"pods matching {_selector(fault.selector)}" if fault.selector else f"the pods of {kubernetes.workload}"
        aim = f"{pods} in namespace {kubernetes.namespace}"
    elif loaded.experiment.target.platform != "local":
        aim = "the external system"
    span = (f"+{format_duration(slot.start)} .. +{format_duration(slot.end)}" if fault.persists
            else f"+{format_duration(slot.start)} (instant)")
    return f"  {fault.name:<22} {fault.type:<13} {span:<20} on {aim}" + (f"; {shown}" if shown else "")


def _scrape_interval(loaded: LoadedExperiment) -> str:
    experiment = loaded.experiment
    if experiment.target.platform == "local":
        return "1s (the local Prometheus)"
    declared = experiment.prometheus.scrape_interval if experiment.prometheus else None
    if declared is not None:
        return f"declared {format_duration(declared)} (an override; a warning is printed when Prometheus disagrees)"
    return "learned from Prometheus at run time (targets API, else the spacing of raw samples)"


def _load_rate(loaded: LoadedExperiment) -> str:
    """The requested rate: known for an open model or constant throughput, not for think time."""
    profile = loaded.load.profile
    arrival = profile.arrival
    if arrival is not None:
        cap = arrival.max_in_flight or default_max_in_flight(arrival.rate, profile.timeout)
        default = "" if arrival.max_in_flight else f", the default rate x timeout {format_duration(profile.timeout)}"
        return (f"{arrival.rate:g} req/s requested (open model: started on schedule, at most {cap} in flight"
                f"{default}; an arrival finding {cap} in flight is not sent and counts as a failed request)")
    steps = profile.stages or ()
    stages = ", ".join(f"{s.users} users for {format_duration(s.duration)}" for s in steps)
    if profile.locustfile is not None and "wait" not in profile.model_fields_set:
        return (f"{stages}; the locustfile's own wait_time (with constant_throughput the requested rate is "
                "read from it when the run starts)")
    throughput = profile.wait.throughput
    if throughput is None:
        return f"{stages}; no requested rate (think time, not a throughput)"
    rates = ", ".join(f"{s.users} users x {throughput:g} = {s.users * throughput:g} req/s" for s in steps)
    return f"{rates} requested (the last stage repeats)"


def _load_processes(loaded: LoadedExperiment) -> list[str]:
    ref = loaded.experiment.load
    if ref.workers is None and not ref.remote_workers:
        return []
    local = "one per core" if ref.workers == "auto" else f"{ref.workers if ref.workers is not None else 0}"
    where = ref.master or "127.0.0.1 (a free port)"
    host, _, port = (ref.master or "").rpartition(":")
    host = "MASTER_HOST" if host in ("0.0.0.0", "[::]") else host
    remote = (f", and {ref.remote_workers} remote workers (`harness load-worker --master {host}:{port} "
              f"{loaded.path.name}` on their machines)") if ref.remote_workers else ""
    return [f"load processes: a Locust master on {where} with {local} local workers{remote}; the warmup starts "
            f"when all have connected (at most {format_duration(ref.workers_timeout)})"]


def _cluster_policy(target: KubernetesTarget) -> list[str]:
    """The blast-radius rules as `run` applies them (against the live cluster, before the first fault)."""
    contexts = ", ".join(target.permitted_contexts) or "none: the run will be refused (set allowed_contexts)"
    limits = [f"{target.max_percent}% of the ready pods a fault selects"] if target.max_percent is not None else []
    limits += [f"{target.max_pods} pods"] if target.max_pods is not None else []
    pods = (f"at most {' and '.join(limits)}" if limits else "no share limit (max_percent/max_pods)") + \
        "; never more pods than are ready"
    return [f"  blast radius: contexts {contexts}; namespace {target.namespace} only; {pods}; never below a "
            "PodDisruptionBudget's minAvailable; a selector matching no pod is refused; without a selector, the "
            f"pods of {target.workload or '(no workload: a selector is required)'}",
            "  (checked against the cluster by `run` before load starts and again right before each injection)"]


def describe_plan(loaded: LoadedExperiment, plan: Plan) -> str:
    experiment = loaded.experiment
    lines = [f"experiment {plan.experiment} ({loaded.path})",
             f"platform {experiment.target.platform}; load profile {loaded.load.profile.metadata.name} "
             f"({loaded.load.path}); total {format_duration(plan.duration)}", f"load: {_load_rate(loaded)}",
             *_load_processes(loaded), "",
             "timeline (from the start of load):"]
    for span in plan.phases:
        lines.append(f"  {span.name:<9} +{format_duration(span.start):>6} .. +{format_duration(span.end):<6}"
                     f" ({format_duration(span.length)})")
    lines += ["", "faults:" if plan.faults else "faults: none"]
    for i, slot in enumerate(plan.faults):
        lines += [_fault_line(loaded, i, plan), *_extras(slot.fault)]
    lines += [f"  warning: {warning}" for warning in fault_edge_warnings(experiment, plan)]
    if experiment.target.platform == "local":
        local = experiment.target.local_or_default
        lines.append(f"  blast radius: {local.replicas} local replicas (labels app=shop, "
                     f"replica=0..{local.replicas - 1}), restarted {format_duration(local.restart_delay)} after a kill")
    if experiment.target.platform == "kubernetes" and experiment.target.kubernetes is not None:
        lines += _cluster_policy(experiment.target.kubernetes)
    exact = experiment.evidence.counting == "exact"
    lines += ["", f"evidence: counted {'exactly from raw samples' if exact else 'with increase()'}, each window's "
              f"queries evaluated at its end, {format_duration(plan.settle_s)} after the run for the last scrape"
              f" (scrape interval {_scrape_interval(loaded)})"]
    for hypothesis in experiment.hypothesis:
        slo = loaded.slo(hypothesis.slo)
        needed = min_events_to_pass(budget_ratio(slo), z_for(experiment.evidence.confidence))
        lines.append(f"  SLO {slo.name}: objective {slo.objective}% over {format_duration(slo.period)} "
                     f"(source: {loaded.slo_sources.get(slo.name)}); a phase needs at least "
                     f"{max(needed, experiment.evidence.min_events)} events with no errors to PASS")
        if slo.sli.client is not None:  # no PromQL: plan.slis may not hold it
            lines += _client_lines(slo.sli.client)
            lines += _limits(hypothesis)
            continue
        sli = plan.sli(slo.name)
        if sli.threshold_s is not None:
            lines.append(f"    latency threshold {format_duration(sli.threshold_s)}: the bucket bound is checked "
                         "against Prometheus before the run")
        for phase in hypothesis.judged_phases:
            start, end = judged_window(plan, phase)
            lines.append(f"    {phase} (window +{start:g}s .. +{end:g}s, {end - start:g}s; queries at its end):")
            for side, query in window_queries(sli, end - start, exact, plan.lookback_s).items():
                lines.append(f"      {side:<5} {query}")
        lines += _limits(hypothesis)
    if experiment.abort:
        abort = experiment.abort
        lines += ["", f"abort: burn rate > {abort.max_burn_rate:g} over {format_duration(abort.window)}, checked "
                  f"every {format_duration(abort.check_every)} while faults are active, {abort.consecutive} in a row"]
    lines += _alerting(loaded)
    lines += [f"expect {_expectation(item)}" for item in experiment.expect]
    lines += ["", "nothing was started or changed"]
    return "\n".join(lines)


def _alerting(loaded: LoadedExperiment) -> list[str]:
    experiment = loaded.experiment
    lines = []
    if experiment.alerting is not None:
        slos = ", ".join(alerting_slos(experiment))
        lines.append(f"alerting: burn-rate rules ({experiment.alerting.windows} windows) for {slos}, loaded into "
                     "Prometheus; alerts go through Alertmanager to the harness's webhook")
    for item in experiment.remediation:
        runbook = loaded.runbooks.get(item.runbook)
        steps = ", ".join(f"{s.name} ({s.kind})" for s in runbook.runbook.steps) if runbook else "?"
        lines.append(f"remediation: when {item.on_alert} fires, run {item.runbook}: {steps}")
    return ["", *lines] if lines else []


def _client_lines(client: ClientSLI) -> list[str]:
    which = ", ".join(client.requests) if client.requests else "every request"
    good = f"succeeded within {format_duration(client.latency)}" if client.latency is not None else "succeeded"
    return [f"    client SLI: {which}; good when it {good}; counted from the load generator's own records"]


def _limits(hypothesis: Hypothesis) -> list[str]:
    limits = []
    if hypothesis.max_budget_consumed is not None:
        limits.append(f"budget consumed <= {hypothesis.max_budget_consumed}%")
    if hypothesis.max_burn_rate is not None:
        limits.append(f"burn rate <= {hypothesis.max_burn_rate:g}")
    if hypothesis.min_budget_remaining is not None:
        limits.append(f"refuse to start below {hypothesis.min_budget_remaining}% budget remaining")
    return [f"    limits: {'; '.join(limits)}"] if limits else []


def _expectation(item: ExpectRecovers | ExpectAlert | ExpectReplicasReady | ExpectRemediated) -> str:
    within = format_duration(item.within)
    if isinstance(item, ExpectRecovers):
        return (f"recovers {item.recovers} within {within} (trailing window {format_duration(item.window)}), "
                "counted from the end of the last fault")
    if isinstance(item, ExpectAlert):
        return f"alert {item.alert} firing within {within}, counted from the first fault's start"
    if isinstance(item, ExpectRemediated):
        return (f"remediated {item.remediated} within {within}: its runbook ran to the end and the SLO is back "
                f"(trailing window {format_duration(item.window)}), counted from the alert")
    return f"replicas_ready {item.replicas_ready} replicas within {within}, counted from each pod-kill"


def describe_gameday(loaded: LoadedGameDay) -> str:
    """The order, each experiment's timeline, the cooldowns, the checks and the expected time."""
    gameday = loaded.gameday
    plans = [build_plan(experiment) for experiment in loaded.experiments]
    cooldowns = gameday.cooldown * (len(plans) - 1)
    expected = sum(p.expected_s for p in plans) + cooldowns
    lines = [f"game day {loaded.name} ({loaded.path}): {len(plans)} experiments, expected about "
             f"{format_duration(round(expected))} (phases, {format_duration(START_AND_JUDGE_S)} each to start and "
             f"judge, cooldowns {format_duration(cooldowns)})"]
    if gameday.metadata.description:
        lines.append(gameday.metadata.description)
    lines += [_window_text(gameday, expected), _budget_text(gameday),
              f"stop on: {', '.join(gameday.stop_on)} (when it is not the designed verdict)", ""]
    for index, (experiment, plan) in enumerate(zip(loaded.experiments, plans, strict=True)):
        if index:
            previous = loaded.experiments[index - 1].name
            lines += [f"-- cooldown {format_duration(gameday.cooldown)}, then until the SLOs of {previous} are back "
                      f"at objective (at most {format_duration(gameday.steady_state_timeout)}; on the local platform "
                      "a plain wait) --", ""]
        lines += [f"== {index + 1}. {experiment.name}: designed {loaded.designed(index)} ==",
                  describe_plan(experiment, plan), ""]
    return "\n".join(lines).rstrip() + "\n"


def _window_text(gameday: GameDay, expected_s: float) -> str:
    window = gameday.window
    if window is None:
        return "window: none (starts whenever it is run)"
    text = (f"window: {', '.join(window.days)} {window.hours} {window.timezone} (before each experiment: it must "
            "end inside the window)")
    start, end = window.span
    length = ((end.hour * 60 + end.minute) if end else 24 * 60) * 60 - (start.hour * 60 + start.minute) * 60
    if expected_s > length:
        text += f"; WARNING: the day takes about {format_duration(round(expected_s))}, longer than the window"
    return text


def _budget_text(gameday: GameDay) -> str:
    if gameday.budget_gate is None:
        return "budget gate: none"
    return (f"budget gate: before each experiment, every SLO of its hypothesis needs at least "
            f"{gameday.budget_gate.min_budget_remaining}% of its error budget left over its period")
