"""Before the run: say when a fault's effect can be counted in the judged phase after it.

A counter moves only when it is scraped, so a phase's window is counted from the last scrape at or
before its judged start: up to one scrape interval early. And the requests a latency fault delayed
still finish after the fault is reverted. A fault that ends closer than those two to a judged phase
can leave some of its slow or failed requests in that phase (a recovery judged on them), so it is
said before anything starts, with the gap that would avoid it.
"""

from __future__ import annotations

from harness.plan import ASSUMED_INTERVAL, Plan
from harness.spec.models import Experiment
from harness.spec.units import format_duration


def fault_edge_warnings(experiment: Experiment, plan: Plan) -> tuple[str, ...]:
    judged = {phase for entry in experiment.hypothesis for phase in entry.judged_phases}
    scrape = plan.scrape_interval_s
    assumed = " assumed until it is learned at run time" if plan.interval_source == ASSUMED_INTERVAL else ""
    warnings = []
    for slot in plan.faults:
        if not slot.fault.persists or slot.end <= slot.start:
            continue  # an instant fault (a kill): what follows it is what the next phase should see
        reach = scrape + slot.fault.aftereffect_s
        for span in plan.phases:
            judged_start = span.start + plan.guard_s
            if span.name not in judged or not slot.end <= judged_start < slot.end + reach:
                continue
            held = (f" and requests it delayed finish up to {format_duration(slot.fault.aftereffect_s)} after "
                    "its end" if slot.fault.aftereffect_s else "")
            gap, short = judged_start - slot.end, slot.end + reach - judged_start
            warnings.append(
                f"fault {slot.name} ends {format_duration(gap)} before the {span.name} phase is judged: that window "
                f"is counted from the last scrape before it (up to {format_duration(scrape)} earlier, the scrape "
                f"interval{assumed}){held}, so {span.name} may count some of the fault's requests; end the fault "
                f"at least {format_duration(reach)} before the {span.name} phase, or raise evidence.guard by "
                f"{format_duration(short)}")
    return tuple(warnings)
