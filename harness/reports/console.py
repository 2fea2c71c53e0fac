"""Console output: the live progress line and the summary table (reads only the run's result)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from harness.reports import remediation_text
from harness.reports.figures import num as _num
from harness.reports.figures import pct as _pct
from harness.result.model import ExpectationResult, FaultResult, RunResult, SloResult
from harness.run.progress import Snapshot

_COLOURS = {"PASS": "32", "FAIL": "31", "INCONCLUSIVE": "33", "ABORTED": "35", "ERROR": "31;1"}


def _paint(text: str, verdict: str, colour: bool) -> str:
    code = _COLOURS.get(verdict)
    return f"\033[{code}m{text}\033[0m" if colour and code else text


def progress_line(snapshot: Snapshot) -> str:
    slis = "  ".join(f"{s.slo} {_pct(s.sli, 2)} burn {_num(s.burn_rate, '{:.1f}')}" for s in snapshot.slis)
    faults = f"  faults: {', '.join(snapshot.active_faults)}" if snapshot.active_faults else ""
    return (f"[{snapshot.phase:<8} {snapshot.phase_left_s:4.0f}s left | run {snapshot.run_left_s:4.0f}s left] "
            f"{slis}  load {snapshot.rps:.0f} req/s ({snapshot.failures} failed of {snapshot.requests} in 5s)"
            f"{faults}")


def _table(rows: Sequence[Sequence[str]], out: TextIO, indent: str = "  ") -> None:
    widths = [max(len(_plain(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell + " " * (widths[i] - len(_plain(cell))) for i, cell in enumerate(row)]
        out.write(indent + "  ".join(cells).rstrip() + "\n")


def _plain(text: str) -> str:
    import re

    return re.sub(r"\033\[[0-9;]*m", "", text)


WHY_LIMIT = 200
REASON_LIMIT = 90
MORE = " … (full reason in result.json, or run with -v)"


def short_why(reason: str, limit: int = WHY_LIMIT) -> str:
    """The run's reason cut after whole '; '-separated clauses, saying where the rest is."""
    if len(reason) <= limit:
        return reason
    kept = ""
    for clause in reason.split("; "):
        longer = f"{kept}; {clause}" if kept else clause
        if len(longer) > limit:
            break
        kept = longer
    return (kept or clip(reason, limit).removesuffix("…").rstrip()) + MORE


def clip(text: str, limit: int = REASON_LIMIT) -> str:
    """Text cut at a clause or word boundary with an ellipsis, never mid-word."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    for mark in ("; ", ", ", " "):
        cut = head.rfind(mark)
        if cut > limit // 2:
            return head[:cut].rstrip(",;: ") + "…"
    return head + "…"


def summary(result: RunResult, out: TextIO = sys.stdout, colour: bool | None = None,
            full_reasons: bool = False) -> None:
    colour = out.isatty() if colour is None else colour
    verdict = str(result.verdict)
    out.write(f"\n{result.experiment}: {_paint(verdict, verdict, colour)} (exit {result.exit_code})\n")
    if result.reason and verdict != "PASS":
        out.write(f"  why: {result.reason if full_reasons else short_why(result.reason)}\n")
    _slos(result.slos, out, colour)
    _faults(result.faults, out)
    _expectations(result.expectations, out, colour)
    for chain in result.remediation:
        out.write(f"  {remediation_text.heading(chain)}\n    {remediation_text.numbers(chain)}\n"
                  f"    {remediation_text.moments_line(chain)}\n")
    load = result.load
    if load.requests is not None:
        requested = load.requested_rps
        out.write(f"  load (Locust): {load.requests} requests, {load.failures} failed, "
                  f"{_num(load.achieved_rps, '{:.1f}')} req/s"
                  + (f" of {requested:.1f} requested" if requested else "") + "\n")
    for problem in result.problems:
        out.write(f"  ! {problem}\n")


def _slos(slos: Sequence[SloResult], out: TextIO, colour: bool) -> None:
    if not slos:
        return
    rows = [["SLO", "phase", "good/total", "SLI", "objective", "burn", "verdict", "reason"]]
    for slo in slos:
        for name, phase in slo.judged_phases.items():
            counts = "-" if phase.total is None else f"{phase.good or 0:.0f}/{phase.total:.0f}"
            reason = "" if phase.verdict == "PASS" else clip(phase.reason)
            rows.append([slo.name, name, counts, _pct(phase.sli), f"{slo.objective:g}%",
                         _num(phase.burn_rate), _paint(phase.verdict, phase.verdict, colour), reason])
    _table(rows, out)
    for slo in slos:
        limit = slo.max_budget_consumed
        out.write(f"  {slo.name}: {_paint(slo.verdict, slo.verdict, colour)}; budget consumed "
                  f"{_pct(slo.budget_consumed, 4)} of its "
                  + (f"{slo.period_s / 86400:g}d " if slo.period_s else "") + "budget"
                  + (f" (limit {_pct(limit, 2)})" if limit is not None else "")
                  + f", peak burn rate {_num(slo.peak_burn_rate)}"
                  + (f" (limit {slo.max_burn_rate:g})" if slo.max_burn_rate else "") + "\n")


def _faults(faults: Sequence[FaultResult], out: TextIO) -> None:
    for fault in faults:
        state = {True: "reverted", False: "REVERT FAILED", None: "instant"}[fault.reverted]
        effect = fault.observed or fault.error or ""
        targets = ", ".join(fault.targets) or "nothing"
        out.write(f"  fault {fault.name} ({fault.type}) on {targets}: {state}; {effect}\n")


def _expectations(items: Sequence[ExpectationResult], out: TextIO, colour: bool) -> None:
    for item in items:
        out.write(f"  expect {item.kind} {item.target}" + (f" within {item.within}" if item.within else "") + ": "
                  f"{_paint(item.verdict, item.verdict, colour)} ({item.reason})\n")
