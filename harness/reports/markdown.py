"""The Markdown summary of a gate (or of one run): the verdict first, a table, the details folded.

It is what `$GITHUB_STEP_SUMMARY` shows, so it stays under GitHub's 1 MiB limit: when the details
would not fit, they are cut from the end and the cut is said.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.history.compare import Comparison
from harness.reports import remediation_text
from harness.reports.checks import Check, Entry
from harness.reports.figures import figure_value, num, pct
from harness.result.model import RunResult

MAX_BYTES = 1024 * 1024
_MARK = {"PASS": "✅", "FAIL": "❌", "INCONCLUSIVE": "⚠️", "ABORTED": "🛑", "ERROR": "💥"}
_CUT = "\n\n_The details were cut here to stay under GitHub's 1 MiB step-summary limit; every run's " \
       "result.json has them all._\n"


def gate_markdown(entries: Sequence[Entry], headline: str, verdict: str, title: str = "Resilience gate",
                  designed: Mapping[str, str] | None = None, intro: Sequence[str] = ()) -> str:
    """`designed`: each experiment's designed verdict (a game day), in a column of its own."""
    compared = any(entry.comparison is not None for entry in entries)
    columns = "| experiment | verdict | SLI per phase | budget consumed | peak burn |" + (" vs baseline |" * compared)
    rule = "|---|---|---|---|---|" + ("---|" * compared)
    if designed is not None:
        columns, rule = "| designed " + columns, "|---" + rule
    head = [f"## {_MARK.get(verdict, '')} {title}: {verdict}".replace("  ", " "), "", headline, "",
            *([*intro, ""] if intro else []), columns, rule]
    head += [(f"| {designed.get(entry.name, 'PASS')} " if designed is not None else "") + _row(entry)
             + (f" {_baseline_cell(entry)} |" * compared) for entry in entries]
    details = [_details(entry) for entry in entries]
    return _fit("\n".join(head) + "\n", details)


def _row(entry: Entry) -> str:
    result = entry.result
    if result is None:
        return f"| {_cell(entry.name)} | NOT RUN | {_cell(entry.not_run)} | | |"
    slis = "<br>".join(f"{_cell(slo.name)}: " + " · ".join(f"{phase} {pct(p.sli, 2)}" for phase, p in
                                                          slo.judged_phases.items()) for slo in result.slos)
    budget = "<br>".join(f"{_cell(slo.name)} {pct(slo.budget_consumed, 2)}" for slo in result.slos)
    burn = "<br>".join(f"{_cell(slo.name)} {num(slo.peak_burn_rate)}" for slo in result.slos)
    verdict = f"{_MARK.get(str(result.verdict), '')} {result.verdict}"
    return f"| {_cell(entry.name)} | {verdict} | {slis or '-'} | {budget or '-'} | {burn or '-'} |"


def _details(entry: Entry) -> str:
    lines = [f"<details><summary>{_html(entry.name)}: {_verdict_text(entry)}</summary>", ""]
    result = entry.result
    if result is not None:
        lines += [f"Experiment `{entry.file}`, run `{result.run_id}`"
                  + (f", result `{result.run_dir}/result.json`" if result.run_dir else "") + ".", ""]
        if result.reason and result.verdict != "PASS":
            lines += [f"**Why:** {_cell(result.reason)}", ""]
    lines += ["| check | verdict | reason | line |", "|---|---|---|---|"]
    lines += [_check_row(check) for check in entry.checks()]
    if entry.comparison is not None:
        lines += _comparison(entry.comparison)
    if result is not None:
        for chain in result.remediation:
            lines += ["", f"**{_cell(remediation_text.heading(chain))}:** {remediation_text.numbers(chain)}.", "",
                      remediation_text.moments_line(chain)]
        lines += _problems(result)
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def _check_row(check: Check) -> str:
    return (f"| {_cell(check.name)} | {_MARK.get(check.verdict, '')} {check.verdict} | {_cell(check.reason)} | "
            f"{check.line if check.line is not None else ''} |")


def _baseline_cell(entry: Entry) -> str:
    comparison = entry.comparison
    if comparison is None:
        return ""
    if comparison.no_baseline is not None:
        return "no baseline"
    worse = comparison.regressions
    if not worse:
        return "✅ no regression"
    mark = "⚠️" if comparison.rule.warn_only else "❌"
    return f"{mark} REGRESSION: " + "<br>".join(
        f"{_cell(f.label)} {figure_value(f.kind, f.now)} (baseline {figure_value(f.kind, f.baseline)})" for f in worse)


def _comparison(comparison: Comparison) -> list[str]:
    if comparison.no_baseline is not None:
        return ["", f"No baseline: {_cell(comparison.no_baseline)}.", *[f"- {_cell(n)}" for n in comparison.notes]]
    lines = ["", f"Against {_cell(comparison.baseline)} (tolerance {comparison.rule.tolerance:.0%}, with a floor "
                 "per figure):", "", "| figure | this run | baseline | |", "|---|---|---|---|"]
    lines += [f"| {_cell(f.label)} | {figure_value(f.kind, f.now)} | {figure_value(f.kind, f.baseline)} | "
              f"{'REGRESSION' if f.regression else 'ok'} |" for f in comparison.figures]
    return lines + [f"- {_cell(n)}" for n in comparison.notes]


def _problems(result: RunResult) -> list[str]:
    notes = [f"- problem: {_cell(p)}" for p in result.problems] + [f"- warning: {_cell(w)}" for w in result.warnings]
    return ["", *notes] if notes else []


def _verdict_text(entry: Entry) -> str:
    return "NOT RUN" if entry.result is None else str(entry.result.verdict)


def _fit(head: str, details: list[str]) -> str:
    text = head + "\n" + "".join(details)
    if len(text.encode()) <= MAX_BYTES:
        return text
    budget = MAX_BYTES - len(head.encode()) - len(_CUT.encode()) - 1
    kept = ""
    for part in details:
        if len((kept + part).encode()) > budget:
            break
        kept += part
    return head + "\n" + kept + _CUT


def _cell(text: str) -> str:
    """Text safe inside a table cell: pipes escaped, one line, no HTML."""
    return _html(text).replace("|", "\\|").replace("\n", " ")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
