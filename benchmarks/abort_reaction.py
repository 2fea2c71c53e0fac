"""Abort reaction time: from the first scrape that shows a burn-rate breach to every fault reverted.

Target: at most check_every + 2 scrape intervals (3 s here, with consecutive 1).

One LocalStack for every trial, a steady paced load through the Caddy edge (GET /api/items/42,
~120 req/s). Each trial injects an `http-error` fault at rate 1.0 on every replica through the fault
proxy, and runs the real AbortGuard (max burn rate 14.4 for a 99 % objective, window 5 s, check every
1 s, consecutive 1, then 2) on the runner's own timeline loop (`run_timeline` with a Ticker, as
`harness run` does); the guard ticker starts at a random phase to the injection and to the scrapes,
as in a real run.
When the guard halts the timeline, the fault is deleted; revert-complete is when the proxy confirmed.

Afterwards Prometheus is asked, just after each scrape of the edge since the injection (10 ms later,
as any check before the next scrape sees it), for the same burn-rate query the guard uses: the first
scrape after which it exceeds the limit is "the first scrape that shows the breach". Reaction =
revert complete - that scrape's timestamp. (Not at the scrape's own timestamp: Prometheus 2.x range
selectors include their left end, so at exactly t a 5 s window also holds the sample of t - 5 s when
scrapes are 1000 ms apart, and the answer differs from the one any check between scrapes gets.)

Trials rotate the injected status (500, 502, 503, 504) and watch that status only, so a trial does not
have to wait for the previous trial's errors to leave the 5 s window.

    .venv/bin/python benchmarks/abort_reaction.py [--quick] [--trials N]
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, cast

from _common import (
    ITEM,
    Load,
    Spread,
    arguments,
    edge_port,
    local_stack,
    machine_line,
    scratch,
    setup_logging,
    table,
)

from harness.errors import Halt
from harness.plan import PhaseSpan, Plan, SliQueries, burn_query
from harness.platform.local.faultproxy import FaultProxyClient
from harness.platform.local.stack import LocalStack
from harness.prom.client import PromClient
from harness.run.faultrunner import FaultRunner
from harness.run.guard import AbortGuard
from harness.run.interrupts import Interrupts
from harness.run.timeline import Ticker, run_timeline
from harness.spec.models import Abort

LIMIT = 14.4
BUDGET = 0.01  # objective 99 %
WINDOW_S = 5.0
CHECK_EVERY_S = 1.0
SCRAPE_S = 1.0
STATUSES = (500, 502, 503, 504)
FAULT = "bench-abort"
TRIAL_TIMEOUT_S = 20.0
JUST_AFTER_S = 0.01


@dataclass(frozen=True)
class Trial:
    consecutive: int
    status: int
    injected_at: float
    fired_at: float | None  # when the guard check that halted the timeline began
    reverted_at: float
    checks: int
    breach_scrape: float | None
    first_error_scrape: float | None

    @property
    def reaction_s(self) -> float | None:
        return None if self.breach_scrape is None else self.reverted_at - self.breach_scrape


def error_fault(status: int) -> dict[str, Any]:
    return {"kind": "http-error", "rate": 1.0, "status": status, "targets": [0, 1, 2]}


def sli_for(status: int) -> SliQueries:
    bad = f'caddy_http_request_duration_seconds_count{{server="edge",code="{status}"}}'
    return SliQueries(f"edge-{status}", "ratio", None, bad, 'caddy_http_requests_total{server="edge"}')


def burn(client: PromClient, sli: SliQueries, at: float) -> float | None:
    """The guard's burn rate evaluated at `at` (None without data)."""
    values = [s.value for s in client.query(burn_query(sli, WINDOW_S), at=at).vector if s.value == s.value]
    return values[0] / BUDGET if values else None


def wait_until_clear(client: PromClient, sli: SliQueries, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = burn(client, sli, time.time())
        if value is not None and value < LIMIT / 4:
            return
        time.sleep(0.25)
    raise SystemExit(f"the burn rate of {sli.slo} stayed high for {timeout_s:g} s before a trial")


def guarded_injection(proxy: FaultProxyClient, client: PromClient, abort: Abort, status: int,
                      rng: random.Random) -> tuple[float, float | None, float, int]:
    """Inject, let the guard run on the runner's timeline loop, revert.

    Returns (injected, guard fired, reverted, number of checks) as unix times and a count.
    """
    sli = sli_for(status)
    guard = AbortGuard(abort, [(sli, BUDGET)])
    spec = error_fault(status)
    injected: list[float] = []
    fired: list[float] = []

    def inject(now: float) -> None:
        if not injected:
            proxy.put(FAULT, spec)
            injected.append(time.time())

    def check(now: float) -> None:
        if not injected:  # the runner's check returns at once while no fault is active
            return
        if guard.check(client, now) is not None:
            fired.append(now)
            raise Halt("abort")

    plan = Plan("bench-abort", (PhaseSpan("fault", 0.0, TRIAL_TIMEOUT_S),), (), (sli,), SCRAPE_S, 0.0, 0.0)
    tickers = [Ticker(rng.uniform(0.05, abort.check_every), inject), Ticker(abort.check_every, check)]
    interrupts = Interrupts()
    try:  # no fault slots in the plan: the timeline never calls the fault runner
        run_timeline(plan, time.time(), cast(FaultRunner, None), {}, tickers, interrupts)
    except Halt:
        pass
    finally:
        with interrupts.shield():
            proxy.delete(FAULT)
        reverted_at = time.time()
    if not injected:  # the timeline logs a failing ticker and goes on: say it here
        raise SystemExit(f"the fault proxy did not take the {FAULT} fault: see the warnings above")
    return injected[0], fired[0] if fired else None, reverted_at, len(guard.checks)


def scrapes_after(client: PromClient, injected_at: float, until: float) -> list[float]:
    """Timestamps of the edge's scrapes in (injected_at, until]."""
    span = int(until - injected_at) + 5
    matrix = client.query(f'up{{job="edge"}}[{span}s]', at=until).matrix
    return sorted({t for series in matrix for t, _ in series.points if injected_at < t <= until})


def first_error_scrape(client: PromClient, sli: SliQueries, injected_at: float, until: float) -> float | None:
    """The first scrape after the injection at which the watched error counter had grown."""
    span = int(until - injected_at) + 10
    firsts = []
    for series in client.query(f"{sli.bad}[{span}s]", at=until).matrix:
        before = [v for t, v in series.points if t <= injected_at]
        base = before[-1] if before else 0.0
        firsts += [t for t, v in series.points if t > injected_at and v > base][:1]
    return min(firsts, default=None)


def run_trial(stack: LocalStack, client: PromClient, consecutive: int, status: int,
              rng: random.Random) -> Trial:
    sli = sli_for(status)
    wait_until_clear(client, sli)
    time.sleep(rng.uniform(0.0, SCRAPE_S))  # a random phase between the guard's checks and the scrapes
    abort = Abort.model_validate({"max_burn_rate": LIMIT, "window": f"{WINDOW_S:g}s",
                                  "check_every": f"{CHECK_EVERY_S:g}s", "consecutive": consecutive})
    proxy = stack.fault_proxy
    injected_at, fired_at, reverted_at, checks = guarded_injection(proxy, client, abort, status, rng)
    breach = next((t for t in scrapes_after(client, injected_at, reverted_at)
                   if (b := burn(client, sli, t + JUST_AFTER_S)) is not None and b > LIMIT), None)
    first_error = first_error_scrape(client, sli, injected_at, reverted_at)
    return Trial(consecutive, status, injected_at, fired_at, reverted_at, checks, breach, first_error)


def prewarm(stack: LocalStack) -> None:
    """Give every watched status its series before the trials (a series born in a window is undercounted)."""
    for status in STATUSES:
        stack.fault_proxy.put(FAULT, error_fault(status))
        time.sleep(0.4)
        stack.fault_proxy.delete(FAULT)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def report(trials: list[Trial]) -> None:
    rows = [[t.consecutive, t.status, _ms(t.breach_scrape - t.injected_at if t.breach_scrape else None),
             _ms(t.fired_at - t.breach_scrape if t.fired_at and t.breach_scrape else None),
             _ms(t.reverted_at - t.fired_at if t.fired_at else None), _ms(t.reaction_s),
             _ms(t.reverted_at - t.first_error_scrape if t.first_error_scrape else None), t.checks]
            for t in trials]
    print(table(["consecutive", "status", "inject->breach scrape ms", "breach scrape->halting check ms",
                 "check->reverted ms", "REACTION ms", "first error scrape->reverted ms", "checks"], rows))
    print()
    summary = []
    for consecutive in sorted({t.consecutive for t in trials}):
        group = [t for t in trials if t.consecutive == consecutive]
        reactions = [r for t in group if (r := t.reaction_s) is not None]
        target = consecutive * CHECK_EVERY_S + 2 * SCRAPE_S
        within = sum(1 for r in reactions if r <= target)
        end_to_end = [t.reverted_at - t.first_error_scrape for t in group if t.first_error_scrape]
        summary.append([consecutive, len(group), Spread.of(reactions).show("{:.2f}"), f"{target:g}",
                        f"{within}/{len(group)}", Spread.of(end_to_end).show("{:.2f}")])
    print(table(["consecutive", "trials", "reaction s (min/median/max)", "target s", "within target",
                 "first error scrape->reverted s"], summary))
    print("(target: check_every + 2 scrape intervals; with consecutive 2 one more check_every is allowed)")


def main() -> int:
    parser = arguments(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials per consecutive setting (default 10, quick 4)")
    args = parser.parse_args()
    setup_logging(args.verbose)
    count = args.trials or (4 if args.quick else 10)
    rng = random.Random(7)
    print(f"abort_reaction: {count} trials each with consecutive 1 and 2\n{machine_line()}")
    with scratch("abort") as folder, local_stack(folder / "run") as stack:
        client = PromClient(stack.prometheus_url)
        load = Load(edge_port(stack), [ITEM], threads=4, rate_per_thread=30)
        load.start()
        try:
            prewarm(stack)
            trials = [run_trial(stack, client, consecutive, STATUSES[n % len(STATUSES)], rng)
                      for consecutive in (1, 2) for n in range(count)]
        finally:
            stack.fault_proxy.delete(FAULT)
            outcomes = load.stop()
        client.close()
        seconds = outcomes[-1].started - outcomes[0].started if outcomes else 0.0
        rate = len(outcomes) / max(seconds, 1e-9)
        print(f"load: {len(outcomes)} requests in {seconds:.0f} s ({rate:.0f} req/s)\n")
        report(trials)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
