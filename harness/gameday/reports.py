"""A game day's reports, written into its folder from gameday.json and the runs' folders alone (so
`harness report GAMEDAY_DIR` rebuilds the same files offline): one HTML report for the day, its
Markdown version, and a postmortem draft for each run that missed its design."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import SpecError
from harness.reports.checks import Entry
from harness.reports.html import SeriesByRun, html_report
from harness.reports.markdown import gate_markdown
from harness.reports.postmortem import postmortem
from harness.result import load_result
from harness.result.gameday import GameDayResult, GameDayRun
from harness.result.model import RunResult
from harness.result.series import RunSeries, load_series

HTML_NAME, MARKDOWN_NAME = "report.html", "report.md"


@dataclass(frozen=True)
class DayReports:
    entries: tuple[Entry, ...]
    series: SeriesByRun
    problems: tuple[str, ...]
    """Run folders that could not be read (moved, corrupt): said in the reports, never a crash."""


def read_day(result: GameDayResult, folder: Path) -> DayReports:
    entries: list[Entry] = []
    series: dict[str, tuple[RunSeries | None, str | None]] = {}
    problems: list[str] = []
    for run in result.runs:
        loaded = _run_result(run, folder, problems)
        entries.append(Entry(run.experiment, run.file, loaded, run.not_run or ("" if loaded else "no result")))
        if loaded is not None and run.run_dir is not None:
            series[loaded.run_id] = load_series(folder / run.run_dir)
    return DayReports(tuple(entries), series, tuple(problems))


def _run_result(run: GameDayRun, folder: Path, problems: list[str]) -> RunResult | None:
    if run.run_dir is None:
        return None
    try:
        return load_result(folder / run.run_dir)
    except SpecError as err:
        problems.extend(err.problems)
        return None


def headline(result: GameDayResult) -> str:
    met = sum(1 for run in result.runs if run.as_designed)
    text = f"{met} of {len(result.runs)} experiments ended as designed (exit {result.exit_code})"
    return text + (f"; stopped: {result.stopped}" if result.stopped else "")


def intro(result: GameDayResult) -> list[tuple[str, str]]:
    items = [("game day file", result.file), ("game day", result.gameday_id)]
    if result.description:
        items.append(("description", result.description))
    if result.participants.owner:
        items.append(("owner", result.participants.owner))
    if result.participants.observers:
        items.append(("observers", ", ".join(result.participants.observers)))
    items += [(f"budget gate before {c.before}", f"{c.slo}: {c.detail}") for c in result.budget_checks]
    items += [(f"cooldown after {c.after}", f"{c.ended - c.started:.0f}s; {c.detail}") for c in result.cooldowns]
    return items


def day_html(result: GameDayResult, day: DayReports) -> str:
    designed = {run.experiment: run.designed for run in result.runs}
    notes = [("problem", p) for p in day.problems]
    return html_report(day.entries, day.series, headline(result), result.verdict, title=f"Game day {result.name}",
                       designed=designed, intro=[*intro(result), *notes])


def day_markdown(result: GameDayResult, day: DayReports) -> str:
    designed = {run.experiment: run.designed for run in result.runs}
    lines = [f"- {label}: {text}" for label, text in intro(result)] + [f"- problem: {p}" for p in day.problems]
    return gate_markdown(day.entries, headline(result), result.verdict, title=f"Game day {result.name}",
                         designed=designed, intro=lines)


def postmortems(result: GameDayResult, day: DayReports) -> dict[str, str]:
    """File name → draft, for every run that ran and missed its design."""
    drafts = {}
    for run, entry in zip(result.runs, day.entries, strict=True):
        if entry.result is not None and not run.as_designed:
            captured, _ = day.series.get(entry.result.run_id, (None, None))
            drafts[f"postmortem-{run.experiment}.md"] = postmortem(entry.result, captured, run.designed)
    return drafts


def write_reports(result: GameDayResult, folder: Path, formats: Sequence[str], with_postmortems: bool) -> list[Path]:
    day = read_day(result, folder)
    texts: dict[str, str] = {}
    if "html" in formats:
        texts[HTML_NAME] = day_html(result, day)
    if "markdown" in formats:
        texts[MARKDOWN_NAME] = day_markdown(result, day)
    if with_postmortems:
        texts.update(postmortems(result, day))
    return [_write(folder / name, text) for name, text in texts.items()]


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
