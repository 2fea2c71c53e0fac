"""Console output: the live progress line and the summary table (reads only the run's result)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from harness.run.progress import Snapshot

_COLOURS = {"PASS": "32", "FAIL": "31", "INCONCLUSIVE": "33", "ABORTED": "35", "ERROR": "31;1"}


def _paint(text: str, verdict: str, colour: bool) -> str:
    code = _COLOURS.get(verdict)
    return f"\033[{code}m{text}\033[0m" if colour and code else text


def _pct(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if 0 < abs(value) * 100 < 10 ** -digits:  # tiny but not zero: show its significant digits
        return f"{value * 100:.2g}%"
    return f"{value * 100:.{digits}f}%"


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


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


def summary(result: Mapping[str, Any], out: TextIO = sys.stdout, colour: bool | None = None,
            full_reasons: bool = False) -> None:
    colour = out.isatty() if colour is None else colour
    verdict = str(result.get("verdict"))
    out.write(f"\n{result['experiment']}: {_paint(verdict, verdict, colour)} (exit {result.get('exit_code')})\n")
    if result.get("reason") and verdict != "PASS":
        reason = str(result["reason"])
        out.write(f"  why: {reason if full_reasons else short_why(reason)}\n")
    _slos(result.get("slos", []), out, colour)
    _faults(result.get("faults", []), out)
    _expectations(result.get("expectations", []), out, colour)
    load = result.get("load") or {}
    if load.get("requests") is not None:
        requested = load.get("requested_rps")
        out.write(f"  load (Locust): {load.get('requests')} requests, {load.get('failures')} failed, "
                  f"{_num(load.get('achieved_rps'), '{:.1f}')} req/s"
                  + (f" of {requested:.1f} requested" if requested else "") + "\n")
    for problem in result.get("problems", []):
        out.write(f"  ! {problem}\n")


def _slos(slos: Sequence[Mapping[str, Any]], out: TextIO, colour: bool) -> None:
    if not slos:
        return
    rows = [["SLO", "phase", "good/total", "SLI", "objective", "burn", "verdict", "reason"]]
    for slo in slos:
        for name, phase in slo["phases"].items():
            if not phase.get("judged"):
                continue
            counts = "-" if phase.get("total") is None else f"{phase['good']:.0f}/{phase['total']:.0f}"
            reason = "" if phase["verdict"] == "PASS" else clip(str(phase["reason"]))
            rows.append([slo["name"], name, counts, _pct(phase.get("sli")), f"{slo['objective']:g}%",
                         _num(phase.get("burn_rate")), _paint(phase["verdict"], phase["verdict"], colour), reason])
    _table(rows, out)
    for slo in slos:
        limit = slo.get("max_budget_consumed")
        out.write(f"  {slo['name']}: {_paint(slo['verdict'], slo['verdict'], colour)}; budget consumed "
                  f"{_pct(slo.get('budget_consumed'), 4)} of its {slo['period_s'] / 86400:g}d budget"
                  + (f" (limit {_pct(limit, 2)})" if limit is not None else "")
                  + f", peak burn rate {_num(slo.get('peak_burn_rate'))}"
                  + (f" (limit {slo['max_burn_rate']:g})" if slo.get("max_burn_rate") else "") + "\n")


def _faults(faults: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    for fault in faults:
        state = {True: "reverted", False: "REVERT FAILED", None: "instant"}[fault.get("reverted")]
        effect = fault.get("observed") or fault.get("error") or ""
        targets = ", ".join(fault.get("targets", [])) or "nothing"
        out.write(f"  fault {fault['name']} ({fault['type']}) on {targets}: {state}; {effect}\n")


def _expectations(items: Sequence[Mapping[str, Any]], out: TextIO, colour: bool) -> None:
    for item in items:
        out.write(f"  expect {item['kind']} {item['target']} within {item['within']}: "
                  f"{_paint(item['verdict'], item['verdict'], colour)} ({item['reason']})\n")
