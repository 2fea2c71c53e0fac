"""After the timeline: keep the load for its last whole second, stop it, wait for the last scrape.

The run's tail (from the last phase's end to the evidence being complete) is what these waits add up to;
`result.json`'s `load.stop` shows it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from harness.errors import Halt
from harness.evidence.collect import scraped_after
from harness.load.driver import LoadRun
from harness.plan import Plan
from harness.prom.client import PromClient
from harness.run.record import RunRecord
from harness.spec.loader import LoadedExperiment

log = logging.getLogger(__name__)

LAST_SECOND_MARGIN_S = 0.1  # Locust's recorder writes second S at S + 1.02 s


def wait_unless_halted(wait: Callable[[], None], state: RunRecord) -> None:
    """A wait after the timeline: a signal now halts the run, but the evidence so far is still judged."""
    try:
        wait()
    except Halt as halt:
        state.halted = state.halted or halt.reason


def finish_last_second(state: RunRecord, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
    """Keep the load until the second holding the last phase end is recorded whole.

    Locust's record counts whole seconds and a phase edge takes its share pro rata: a second cut short
    by stopping Locust would undercount the last phase. Not after a halt: then stopping fast matters more.
    """
    if state.halted is not None:
        return
    last = max((p.get("end", 0.0) for p in state.phases.values()), default=0.0)
    wait = math.floor(last) + 1 + LAST_SECOND_MARGIN_S - clock()
    if last > 0 and wait > 0:
        sleep(wait)


def needs_prometheus_after(loaded: LoadedExperiment, plan: Plan) -> bool:
    """Client SLIs are counted from the load record, complete once the load stopped: only Prometheus
    SLIs and expectations wait for the last scrapes."""
    return bool(loaded.experiment.expect) or any(sli.from_prometheus for sli in plan.slis)


def settle(plan: Plan, state: RunRecord, client: PromClient, load: LoadRun, clock: Callable[[], float],
           sleep: Callable[[float], None]) -> None:
    """Wait until a scrape after the load's last answered request has landed in Prometheus.

    Once the load has stopped nothing is in flight any more, so the first scrape of every target after
    that moment holds the whole run: the wait is what that scrape needs (up to one interval). Targets
    behind full expressions cannot be watched: they get the fixed settle time after the last phase.
    """
    last = max((p.get("end", 0.0) for p in state.phases.values()), default=clock())
    stopped = load.stopped
    quiet = stopped.requested_at + stopped.after_s if stopped is not None else last
    moment = max(last, quiet)
    deadline = last + plan.settle_s + 3 * plan.scrape_interval_s
    while True:
        landed = scraped_after(client, plan, moment, clock())
        if landed is None:
            wait = last + plan.settle_s - clock()
            if wait > 0:
                log.info("waiting %.1fs for the last scrapes to land", wait)
                sleep(wait)
            return
        if landed:
            return
        if clock() >= deadline:
            state.evidence_problems.append("the last scrape after the run did not land in Prometheus within "
                                           f"{deadline - last:g}s of the last phase: the last phase may be "
                                           "missing its final samples")
            return
        sleep(min(0.25, plan.scrape_interval_s))
