"""The HTML report: one self-contained file (no script, no font or style from the network) with the
verdict, each experiment's hypothesis and checks, SVG plots of every SLI, its burn rate and the load,
and the event timeline. It is drawn from result.json and series.json alone, so it can be rebuilt
from a run folder long after the platform is gone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

from harness.history.compare import Comparison
from harness.reports import remediation_text
from harness.reports.checks import Entry
from harness.reports.figures import figure_value, num, pct
from harness.reports.svg import Band, Level, Line, Mark, TimePlot, legend
from harness.result.model import RunResult, SloResult
from harness.result.series import RunSeries, SliSeries

SeriesByRun = Mapping[str, tuple[RunSeries | None, str | None]]
"""Each run's captured series by run id, or why there are none (see result.series.load_series)."""

_VERDICT_CLASS = {"PASS": "pass", "FAIL": "fail", "ABORTED": "fail", "ERROR": "error", "INCONCLUSIVE": "warn"}
SLI_COLOR, JUDGED_COLOR, OBJECTIVE_COLOR = "#1f5fa8", "#222222", "#2a7a2a"
BURN_COLOR, ABORT_COLOR, LIMIT_COLOR, BUDGET_RATE_COLOR = "#8a3ab9", "#c0392b", "#d35400", "#777777"
ACHIEVED_COLOR, REQUESTED_COLOR = "#1f5fa8", "#777777"


def html_report(entries: Sequence[Entry], series: SeriesByRun, headline: str, verdict: str,
                title: str = "Resilience gate", designed: Mapping[str, str] | None = None,
                intro: Sequence[tuple[str, str]] = ()) -> str:
    """`designed`: each experiment's designed verdict (a game day), shown beside the actual one;
    `intro`: label and text pairs under the title (a game day's description and participants)."""
    body = [_header(entries, headline, verdict, title, designed, intro)]
    body += [_run_section(index, entry, series) for index, entry in enumerate(entries, start=1)]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}: {escape(verdict)}</title><style>{_CSS}</style></head>\n"
            f"<body>\n{''.join(body)}\n</body></html>\n")


def _header(entries: Sequence[Entry], headline: str, verdict: str, title: str,
            designed: Mapping[str, str] | None, intro: Sequence[tuple[str, str]]) -> str:
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    about = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in intro)
    about = f'<dl class="meta">{about}</dl>' if about else ""
    summary = _summary(entries, designed) if len(entries) > 1 or designed is not None else ""
    return (f'<header><h1>{escape(title)}: {_badge(verdict)}</h1><p class="headline">{escape(headline)}</p>'
            f'<p class="made">report written {made}</p>{about}{summary}</header>\n')


def _summary(entries: Sequence[Entry], designed: Mapping[str, str] | None) -> str:
    head = "<th>experiment</th>" + ("<th>designed</th>" if designed is not None else "") + \
           "<th>verdict</th>" + ("<th>as designed</th><th>budget consumed</th>" if designed is not None else "") + \
           "<th>why</th>"
    rows = []
    for i, entry in enumerate(entries, start=1):
        cells = f'<td><a href="#run-{i}">{escape(entry.name)}</a></td>'
        actual = _verdict_of(entry)
        if designed is not None:
            cells += f"<td>{escape(designed.get(entry.name, 'PASS'))}</td>"
        cells += f"<td>{_badge(actual)}</td>"
        if designed is not None:
            met = actual == designed.get(entry.name, "PASS")
            budget = "<br>".join(f"{escape(slo.name)} {pct(slo.budget_consumed, 4)}"
                                 for slo in (entry.result.slos if entry.result else ()))
            met_badge = '<span class="verdict pass">yes</span>' if met else '<span class="verdict fail">NO</span>'
            cells += f"<td>{met_badge}</td><td>{budget or '-'}</td>"
        rows.append(f"<tr>{cells}<td>{escape(_why(entry))}</td></tr>")
    return (f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _verdict_of(entry: Entry) -> str:
    return "NOT RUN" if entry.result is None else str(entry.result.verdict)


def _why(entry: Entry) -> str:
    if entry.result is None:
        return entry.not_run or "not run"
    return entry.result.reason or str(entry.result.verdict)


def _badge(verdict: str) -> str:
    return f'<span class="verdict {_VERDICT_CLASS.get(verdict, "error")}">{escape(verdict)}</span>'


def _run_section(index: int, entry: Entry, series: SeriesByRun) -> str:
    result = entry.result
    parts = [f'<section class="run" id="run-{index}"><h2>{escape(entry.name)} {_badge(_verdict_of(entry))}</h2>']
    if result is None:
        parts.append(f"<p>Not run: {escape(entry.not_run or 'the gate stopped before it')}.</p></section>")
        return "\n".join(parts)
    captured, why_not = series.get(result.run_id, (None, "no series were captured for this run"))
    parts += [_meta(entry, result), _reason(result), _hypothesis(result), _checks(entry),
              _comparison(entry.comparison)]
    parts.append(_plots(result, captured) if captured is not None
                 else f'<p class="note">No plots: {escape(why_not or "no series")}.</p>')
    parts += [_remediation(result), _timeline(result, captured), _notes(result, captured), "</section>"]
    return "\n".join(p for p in parts if p)


def _meta(entry: Entry, result: RunResult) -> str:
    items = [("experiment file", entry.file), ("run", result.run_id), ("platform", result.platform or "-"),
             ("started", _utc(result.started)), ("ended", _utc(result.ended)),
             ("scrape interval", f"{num(result.scrape_interval.seconds, '{:g}')} s ({result.scrape_interval.source})"
              if result.scrape_interval.seconds else "-")]
    if result.run_dir:
        items.append(("run folder", result.run_dir))
    if result.source is not None and result.source.fingerprint:
        items.append(("fingerprint", result.source.fingerprint))
    cells = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    return f'<dl class="meta">{cells}</dl>'


def _reason(result: RunResult) -> str:
    if not result.reason or result.verdict == "PASS":
        return ""
    return f'<p class="why"><strong>Why:</strong> {escape(result.reason)}</p>'


def _hypothesis(result: RunResult) -> str:
    items = "".join(f"<li>{escape(_promise(slo))}</li>" for slo in result.slos)
    items += "".join(f"<li>{escape(e.kind)} {escape(e.target)}" + (f" within {escape(e.within)}" if e.within else "")
                     + "</li>" for e in result.expectations)
    return f"<h3>Hypothesis</h3><ul class=\"hypothesis\">{items}</ul>" if items else ""


def _promise(slo: SloResult) -> str:
    phases = ", ".join(slo.judged_phases) or "no phase"
    text = f"{slo.name}: at least {slo.objective:g}% good in {phases}"
    if slo.max_budget_consumed is not None:
        text += f"; at most {pct(slo.max_budget_consumed, 2)} of the error budget spent"
    if slo.max_burn_rate is not None:
        text += f"; burn rate at most {slo.max_burn_rate:g}x"
    return text


def _checks(entry: Entry) -> str:
    rows = "".join(f"<tr><td>{escape(c.name)}</td><td>{_badge(c.verdict)}</td><td>{escape(c.reason)}</td>"
                   f"<td>{'' if c.line is None else c.line}</td></tr>" for c in entry.checks())
    return (f'<h3>Checks</h3><table class="checks"><thead><tr><th>check</th><th>verdict</th><th>numbers</th>'
            f"<th>line</th></tr></thead><tbody>{rows}</tbody></table>")


def _comparison(comparison: Comparison | None) -> str:
    if comparison is None:
        return ""
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in comparison.notes)
    if comparison.no_baseline is not None:
        return f"<h3>Against the baseline</h3><p>No baseline: {escape(comparison.no_baseline)}.</p>{notes}"
    rows = "".join(f'<tr><td>{escape(f.label)}</td><td>{figure_value(f.kind, f.now)}</td>'
                   f"<td>{figure_value(f.kind, f.baseline)}</td>"
                   f"<td>{_badge('FAIL') if f.regression else 'ok'}</td></tr>" for f in comparison.figures)
    rows = rows.replace(">FAIL</span>", ">REGRESSION</span>")
    return (f"<h3>Against the baseline</h3><p>{escape(comparison.baseline)}; tolerance "
            f"{comparison.rule.tolerance:.0%} with a floor per figure.</p><table class=\"comparison\"><thead><tr>"
            f"<th>figure</th><th>this run</th><th>baseline</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
            f"{notes}")


# -- plots -------------------------------------------------------------------------------------------


def _plots(result: RunResult, series: RunSeries) -> str:
    bands = _fault_bands(result, series)
    marks = [Mark(name, w.start) for name, w in result.phases.items() if w.start is not None]
    parts = ["<h3>Over time</h3>",
             '<p class="note">Phases are marked at their start; fault windows are shaded. Time is seconds since '
             f"{_utc(series.start)}.</p>"]
    for sli in series.slis:
        slo = _slo(result, sli.slo)
        parts += [_figure(_sli_plot(sli, slo, series, bands, marks)), _figure(_burn_plot(sli, slo, series, bands,
                                                                                          marks))]
    if series.load.time:
        parts.append(_figure(_load_plot(series, bands, marks)))
    return "\n".join(parts)


def _figure(plot_and_legend: tuple[TimePlot, str]) -> str:
    plot, keys = plot_and_legend
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in plot.notes)
    return f'<figure class="{plot.css}"><figcaption>{escape(plot.title)}</figcaption>{plot.svg()}{keys}{notes}' \
           "</figure>"


def _slo(result: RunResult, name: str) -> SloResult | None:
    return next((slo for slo in result.slos if slo.name == name), None)


def _fault_bands(result: RunResult, series: RunSeries) -> list[Band]:
    return [Band(f"{fault.name} ({fault.type})", fault.started, fault.ended if fault.ended is not None else series.end)
            for fault in result.faults if fault.started is not None]


def _sli_plot(sli: SliSeries, slo: SloResult | None, series: RunSeries, bands: list[Band],
              marks: list[Mark]) -> tuple[TimePlot, str]:
    trailing = sli.trailing_sli(series.step_s)
    lines = [Line(f"SLI over the trailing {sli.burn_window_s:g}s", sli.time, trailing, SLI_COLOR)]
    if slo is not None:
        for name, phase in slo.judged_phases.items():
            if phase.sli is not None and phase.start is not None and phase.end is not None:
                lines.append(Line(f"judged SLI, {name}", (phase.start, phase.end), (phase.sli, phase.sli),
                                  JUDGED_COLOR))
    levels = [Level(f"objective {sli.objective * 100:g}%", sli.objective, OBJECTIVE_COLOR)]
    shown = [v for line in lines for v in line.values if v is not None]
    low = min([*shown, sli.objective])
    low = max(0.0, low - max(1.0 - low, 0.001) * 0.25)
    digits = max(0, math.ceil(-math.log10((1.0 - low) * 100)) + 1) if low < 1 else 1
    plot = TimePlot(f"{sli.slo}: SLI (good / total)", series.start, series.end, low, 1.0,
                    y_format=f"{{:.{digits}%}}", lines=lines, levels=levels, bands=bands, marks=marks,
                    css="plot sli-plot", notes=_gaps(sli))
    keyed = lines[:1] + ([Line("judged SLI per phase (the verdict's number)", (), (), JUDGED_COLOR)]
                         if len(lines) > 1 else [])
    return plot, legend(keyed, levels, band=bool(bands))


def _burn_plot(sli: SliSeries, slo: SloResult | None, series: RunSeries, bands: list[Band],
               marks: list[Mark]) -> tuple[TimePlot, str]:
    lines = [Line(f"burn rate over the trailing {sli.burn_window_s:g}s", sli.time, sli.burn_rate, BURN_COLOR)]
    levels = [Level("1x (budget spent exactly over the period)", 1.0, BUDGET_RATE_COLOR, dash="2 3",
                    css="level budget-rate")]
    if sli.abort_burn_rate is not None:
        levels.append(Level(f"abort threshold {sli.abort_burn_rate:g}x", sli.abort_burn_rate, ABORT_COLOR,
                            css="level abort-threshold"))
    if slo is not None and slo.max_burn_rate is not None:
        levels.append(Level(f"limit {slo.max_burn_rate:g}x", slo.max_burn_rate, LIMIT_COLOR, dash="8 3",
                            css="level burn-limit"))
    top = max([2.0, *(v for v in sli.burn_rate if v is not None), *(level.value for level in levels)]) * 1.1
    plot = TimePlot(f"{sli.slo}: burn rate (error ratio / error budget)", series.start, series.end, 0.0, top,
                    y_format="{:g}x", lines=lines, levels=levels, bands=bands, marks=marks, css="plot burn-plot")
    return plot, legend(lines, levels, band=bool(bands))


def _load_plot(series: RunSeries, bands: list[Band], marks: list[Mark]) -> tuple[TimePlot, str]:
    load = series.load
    # a second's requests are drawn at its middle
    middles = [t + 0.5 for t in load.time]
    lines = [Line("requested", middles, load.requested_rps, REQUESTED_COLOR, dash="6 3"),
             Line("achieved (requests sent per second)", middles, load.achieved_rps, ACHIEVED_COLOR)]
    top = max([1.0, *(v for line in lines for v in line.values if v is not None)]) * 1.15
    plot = TimePlot("load: achieved against requested (requests per second)", series.start, series.end, 0.0, top,
                    lines=lines, bands=bands, marks=marks, css="plot load-plot")
    return plot, legend(lines, band=bool(bands))


def _gaps(sli: SliSeries) -> tuple[str, ...]:
    missing = sum(1 for v in sli.total if v is None)
    if not missing:
        return ()
    return (f"{missing} of {len(sli.total)} points have no data (drawn as gaps, never as a value)",)


# -- timeline and notes -------------------------------------------------------------------------------


def _timeline(result: RunResult, series: RunSeries | None) -> str:
    if not result.events:
        return ""
    origin = series.start if series is not None else result.started or result.events[0].time
    rows = "".join(f'<tr class="{escape(e.kind)}"><td>{e.time - origin:+.1f}s</td><td>{_utc(e.time)}</td>'
                   f"<td>{escape(e.kind)}</td><td>{escape(e.name)}</td><td>{escape(e.detail)}</td></tr>"
                   for e in result.events)
    return (f'<h3>Timeline</h3><table class="timeline"><thead><tr><th>t</th><th>time</th><th>event</th>'
            f"<th>what</th><th>detail</th></tr></thead><tbody>{rows}</tbody></table>")


def _remediation(result: RunResult) -> str:
    parts = []
    for chain in result.remediation:
        rows = "".join(f"<tr><td>{offset:+.1f}s</td><td>{escape(what)}</td></tr>"
                       for offset, what in remediation_text.moments(chain))
        parts.append(f"<h3>{escape(remediation_text.heading(chain))}</h3><p>{escape(remediation_text.numbers(chain))}"
                     f'</p><table class="remediation"><thead><tr><th>after the first fault</th><th>what</th></tr>'
                     f"</thead><tbody>{rows}</tbody></table>")
    return "".join(parts)


def _notes(result: RunResult, series: RunSeries | None) -> str:
    notes = [f"problem: {p}" for p in result.problems] + [f"warning: {w}" for w in result.warnings]
    notes += [f"plots: {n}" for n in (series.notes if series is not None else ())]
    if not notes:
        return ""
    return "<h3>Notes</h3><ul class=\"notes\">" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>"


def _utc(moment: float | None) -> str:
    if moment is None:
        return "-"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1b1b1b;
       max-width: 940px; margin: 24px auto; padding: 0 16px; line-height: 1.4; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 6px; } h2 { font-size: 1.3em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; }
.verdict { display: inline-block; padding: 1px 8px; border-radius: 4px; font-weight: 600; font-size: .85em;
           border: 1px solid currentColor; }
.verdict.pass { color: #1d6b2a; background: #e5f4e8; } .verdict.fail { color: #a3221a; background: #fbe6e4; }
.verdict.warn { color: #8a5a00; background: #fdf1d8; } .verdict.error { color: #6d1b7b; background: #f3e5f5; }
.headline { font-size: 1.05em; } .made, .note { color: #555; font-size: .85em; }
table { border-collapse: collapse; width: 100%; font-size: .85em; margin: 6px 0 10px; }
th, td { border: 1px solid #d6d6d6; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; font-size: .85em; }
dl.meta dt { color: #555; } dl.meta dd { margin: 0; word-break: break-all; }
figure { margin: 10px 0 18px; break-inside: avoid; page-break-inside: avoid; }
figcaption { font-weight: 600; font-size: .9em; margin-bottom: 2px; }
svg.plot { max-width: 100%; height: auto; display: block; }
svg text { font-family: inherit; font-size: 11px; fill: #333; }
svg text.level-label { font-size: 10.5px; } svg text.band-label { font-size: 10px; fill: #7a2a22; }
.legend { font-size: .8em; color: #333; } .legend .key { margin-right: 14px; white-space: nowrap; }
.legend svg { vertical-align: middle; margin-right: 4px; }
.why { background: #fff6f5; border-left: 3px solid #c0392b; padding: 4px 8px; }
@media print { body { max-width: none; margin: 0; } a { color: inherit; text-decoration: none; }
               section.run { break-before: page; } section.run:first-of-type { break-before: auto; } }
"""
