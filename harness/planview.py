"""`harness plan`: the timeline, the faults, the blast radius and the exact PromQL, as text."""

from __future__ import annotations

from decimal import Decimal

from harness.judge import budget_ratio, z_for
from harness.plan import Plan, judged_window, window_queries
from harness.spec.faults import FaultBase
from harness.spec.loader import LoadedExperiment
from harness.spec.units import format_duration, format_percent, parse_duration, parse_percent
from harness.stats import min_events_to_pass


def _shown(fault: FaultBase, key: str, value: object) -> str:
    """A fault's field as the file writes it (`200ms`, `5%`), not as seconds or a bare percent number."""
    parsers = {getattr(m, "func", None) for m in type(fault).model_fields[key].metadata}
    if parse_duration in parsers and isinstance(value, float):
        return format_duration(value)
    if parse_percent in parsers and isinstance(value, Decimal):
        return format_percent(value)
    return str(value)


def _fault_line(loaded: LoadedExperiment, slot_index: int, plan: Plan) -> str:
    slot = plan.faults[slot_index]
    fault = slot.fault
    fields = fault.model_dump(exclude={"name", "type", "at", "selector", "duration", "verify", "expect_down"},
                             exclude_none=True)
    shown = ", ".join(f"{k}={_shown(fault, k, v)}" for k, v in fields.items()
                      if k not in ("action", "rollback", "start", "stop"))
    aim = f"replicas matching {fault.selector}" if fault.selector else "all replicas of the target"
    if loaded.experiment.target.platform != "local":
        aim = "the external system"
    span = (f"+{format_duration(slot.start)} .. +{format_duration(slot.end)}" if fault.persists
            else f"+{format_duration(slot.start)} (instant)")
    return f"  {fault.name:<22} {fault.type:<13} {span:<20} on {aim}" + (f"; {shown}" if shown else "")


def describe_plan(loaded: LoadedExperiment, plan: Plan) -> str:
    experiment = loaded.experiment
    lines = [f"experiment {plan.experiment} ({loaded.path})",
             f"platform {experiment.target.platform}; load profile {loaded.load.profile.metadata.name} "
             f"({loaded.load.path}); total {format_duration(plan.duration)}", "", "timeline (from the start of load):"]
    for span in plan.phases:
        lines.append(f"  {span.name:<9} +{format_duration(span.start):>6} .. +{format_duration(span.end):<6}"
                     f" ({format_duration(span.length)})")
    lines += ["", "faults:" if plan.faults else "faults: none"]
    lines += [_fault_line(loaded, i, plan) for i in range(len(plan.faults))]
    if experiment.target.platform == "local":
        local = experiment.target.local_or_default
        lines.append(f"  blast radius: {local.replicas} local replicas (labels app=shop, "
                     f"replica=0..{local.replicas - 1}), restarted {format_duration(local.restart_delay)} after a kill")
    exact = experiment.evidence.counting == "exact"
    lines += ["", f"evidence: counted {'exactly from raw samples' if exact else 'with increase()'}, each window's "
              f"queries evaluated at its end, {format_duration(plan.settle_s)} after the run for the last scrape"
              f" (scrape interval {format_duration(plan.scrape_interval_s)})"]
    for hypothesis in experiment.hypothesis:
        slo = loaded.slo(hypothesis.slo)
        sli = plan.sli(slo.name)
        needed = min_events_to_pass(budget_ratio(slo), z_for(experiment.evidence.confidence))
        lines.append(f"  SLO {slo.name}: objective {slo.objective}% over {format_duration(slo.period)} "
                     f"(source: {loaded.slo_sources.get(slo.name)}); a phase needs at least "
                     f"{max(needed, experiment.evidence.min_events)} events with no errors to PASS")
        if sli.threshold_s is not None:
            lines.append(f"    latency threshold {format_duration(sli.threshold_s)}: the bucket bound is checked "
                         "against Prometheus before the run")
        for phase in hypothesis.judged_phases:
            start, end = judged_window(plan, phase)
            lines.append(f"    {phase} (window +{start:g}s .. +{end:g}s, {end - start:g}s; queries at its end):")
            for side, query in window_queries(sli, end - start, exact, plan.lookback_s).items():
                lines.append(f"      {side:<5} {query}")
        limits = []
        if hypothesis.max_budget_consumed is not None:
            limits.append(f"budget consumed <= {hypothesis.max_budget_consumed}%")
        if hypothesis.max_burn_rate is not None:
            limits.append(f"burn rate <= {hypothesis.max_burn_rate:g}")
        if hypothesis.min_budget_remaining is not None:
            limits.append(f"refuse to start below {hypothesis.min_budget_remaining}% budget remaining")
        if limits:
            lines.append(f"    limits: {'; '.join(limits)}")
    if experiment.abort:
        abort = experiment.abort
        lines += ["", f"abort: burn rate > {abort.max_burn_rate:g} over {format_duration(abort.window)}, checked "
                  f"every {format_duration(abort.check_every)} while faults are active, {abort.consecutive} in a row"]
    for item in experiment.expect:
        lines.append(f"expect: {item.model_dump(exclude_none=True)}")
    lines += ["", "nothing was started or changed"]
    return "\n".join(lines)
