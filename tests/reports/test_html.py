"""The HTML report, read as a browser would: one self-contained file whose plot elements sit where
the data says (the rendering itself is checked in headless Chromium, tests/integration)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from harness.reports.checks import Entry, run_checks
from harness.reports.html import html_report
from harness.reports.svg import TimePlot, nice_ticks
from harness.result.series import LoadSeries, RunSeries, SliSeries
from tests.reports.results import FILE, checkout_result

TIMES = tuple(1000.0 + t for t in range(1, 61))


class Elements(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def having(self, tag: str, css: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag and css in attrs.get("class", "").split()]


def _series(total_none_from: int | None = None) -> RunSeries:
    total = [10.0 * i for i in range(1, 61)]
    good = [t - (3.0 * max(0, i - 25) if i < 35 else 27.0) for i, t in enumerate(total, start=1)]
    totals: list[float | None] = [None if total_none_from and i >= total_none_from else t
                                  for i, t in enumerate(total, start=1)]
    burn = [None] * 5 + [2.0] * 55
    sli = dict(objective=0.99, burn_window_s=5.0, time=TIMES, good=tuple(good), total=tuple(totals),
               burn_rate=tuple(burn))
    return RunSeries(step_s=1.0, start=1000.0, end=1060.0,
                     slis=(SliSeries(slo="avail", abort_burn_rate=14.4, **sli), SliSeries(slo="latency", **sli)),
                     load=LoadSeries(time=tuple(float(t) for t in range(1000, 1060)),
                                     achieved_rps=(80.0,) * 60, requested_rps=(80.0,) * 60),
                     notes=("captured for the test",))


def _report(series: RunSeries | None = None, why: str | None = None) -> Elements:
    result = checkout_result()
    page = html_report([Entry("checkout", FILE, result)], {"r1": (series, why)}, "1 FAIL", "FAIL", title="checkout")
    return Elements(page)


def test_the_report_is_self_contained_and_leads_with_the_verdict() -> None:
    result = checkout_result()
    page = html_report([Entry("checkout", FILE, result)], {"r1": (_series(), None)}, "1 FAIL", "FAIL")
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing fetched from the network
    parsed = Elements(page)
    assert parsed.having("span", "verdict")[0] and "FAIL" in "".join(parsed.text[:12])
    text = " ".join(parsed.text)
    for check in run_checks(result):  # every check with its numbers
        assert check.name in text and check.reason in text
    assert "avail: at least 99% good in baseline, fault" in text
    assert "captured for the test" in text


def test_one_sli_and_one_burn_plot_per_slo_and_one_load_plot() -> None:
    parsed = _report(_series())
    assert len(parsed.having("svg", "sli-plot")) == 2
    assert len(parsed.having("svg", "burn-plot")) == 2
    assert len(parsed.having("svg", "load-plot")) == 1


def test_the_fault_band_spans_the_faults_timestamps() -> None:
    parsed = _report(_series())
    plot = TimePlot("x", 1000.0, 1060.0, 0.0, 1.0)
    bands = parsed.having("g", "fault-band")
    assert len(bands) == 5  # shaded in every plot
    assert {(b["data-start"], b["data-end"]) for b in bands} == {("1025.000", "1035.000")}
    rects = [attrs for tag, attrs in parsed.tags if tag == "rect" and attrs.get("fill") == "#f8c9c4" and "x" in attrs]
    [(left, right)] = {(float(r["x"]), float(r["x"]) + float(r["width"])) for r in rects}
    assert abs(left - plot.x(1025.0)) < 0.01 and abs(right - plot.x(1035.0)) < 0.02


def test_phases_are_marked_and_the_objective_and_abort_threshold_drawn() -> None:
    parsed = _report(_series())
    marks = {m["data-time"] for m in parsed.having("g", "phase-mark")}
    assert marks == {"1005.000", "1020.000", "1040.000"}
    assert {g["data-value"] for g in parsed.having("g", "abort-threshold")} == {"14.4"}  # only the watched SLO
    levels = [g["data-value"] for g in parsed.having("g", "level")]
    assert levels.count("0.99") == 2


def test_no_data_is_a_gap_never_a_value() -> None:
    parsed = _report(_series(total_none_from=40))
    sli_paths = [attrs["d"] for tag, attrs in parsed.tags if tag == "path"
                 and attrs.get("data-label", "").startswith("SLI over")]
    assert all(path.count("M") == 1 for path in sli_paths)  # one stretch of data, then nothing drawn
    assert all(len(re.findall(r"[ML]", path)) == 39 for path in sli_paths)
    assert "21 of 60 points have no data" in " ".join(parsed.text)


def test_without_series_the_report_says_why_and_keeps_every_number() -> None:
    parsed = _report(None, "runs/r1/series.json: no series were captured for this run")
    text = " ".join(parsed.text)
    assert "No plots: runs/r1/series.json: no series were captured" in text
    assert not parsed.having("svg", "plot")
    assert "1200 bad of 1600 events" in text


def test_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0, 60, 10) == [0, 10, 20, 30, 40, 50, 60]
    assert nice_ticks(0.97, 1.0, 5) == [0.97, 0.98, 0.99, 1.0]
    assert nice_ticks(0.99, 1.0, 5) == [0.99, 0.995, 1.0]
    assert nice_ticks(5, 5, 3) == [5]
