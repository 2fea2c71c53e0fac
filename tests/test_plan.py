"""Planning (pure): the phase timeline, fault slots, judged windows and the exact PromQL of `harness plan`."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import cli
from harness.plan import Plan, build_plan, judged_window, sli_queries, window_queries
from harness.reports.plan_text import describe_plan
from harness.spec.loader import LoadedExperiment, load_experiment

DATA = Path(__file__).resolve().parent / "data" / "spec"
SPEC_EXAMPLE = DATA / "spec-example" / "experiment-stdlib.yaml"
GOOD = 'http_requests_total{route="/api/checkout",code!~"5.."}'
TOTAL = 'http_requests_total{route="/api/checkout"}'


@pytest.fixture
def spec() -> LoadedExperiment:
    return load_experiment(SPEC_EXAMPLE, {"PROM_TOKEN": "token"})


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """The CLI configures logging for the whole process; put it back after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def small_experiment(tmp_path: Path, evidence: str, target: str = "target: {platform: local}") -> Path:
    """An experiment beside a copy of the spec's profile, with the given evidence and target blocks."""
    profiles = tmp_path / "loadprofiles"
    profiles.mkdir(exist_ok=True)
    (profiles / "steady-peak.yaml").write_text((DATA / "loadprofiles" / "steady-peak.yaml").read_text())
    text = textwrap.dedent("""\
        apiVersion: harness/v1
        kind: Experiment
        metadata: {name: small}
        slos:
          - name: availability
            objective: 99.9
            sli: {ratio: {bad: 'http_requests_total{code=~"5.."}', total: http_requests_total}}
          - name: by-expression
            objective: 99
            sli:
              ratio:
                bad: 'sum(increase(errors_total[{{window}}]))'
                total: 'sum(increase(requests_total[{{window}}]))'
        load: {profile: steady-peak}
        phases: {warmup: 5s, baseline: 30s, fault: 20s, recovery: 40s}
        hypothesis:
          - slo: availability
          - slo: by-expression
            phases: [fault]
        """)
    path = tmp_path / "small.yaml"
    path.write_text(f"{text}evidence: {evidence}\n{target}\n", encoding="utf-8")
    return path


def has_block(text: str, block: list[str]) -> bool:
    """True when these lines appear in the text one after the other."""
    lines = text.splitlines()
    return any(lines[i : i + len(block)] == block for i in range(len(lines)))


def plan_of(path: Path) -> tuple[LoadedExperiment, Plan]:
    loaded = load_experiment(path, {})
    return loaded, build_plan(loaded)


def test_phases_follow_each_other_from_the_start_of_load(spec: LoadedExperiment) -> None:
    plan = build_plan(spec)
    assert [(p.name, p.start, p.end) for p in plan.phases] == [
        ("warmup", 0, 10), ("baseline", 10, 40), ("fault", 40, 100), ("recovery", 100, 130)]
    assert plan.duration == 130
    assert plan.phase("fault").length == 60


def test_faults_are_placed_inside_the_fault_phase(spec: LoadedExperiment) -> None:
    plan = build_plan(spec)
    assert [(s.index, s.name, s.start, s.end) for s in plan.faults] == [
        (0, "kill-one-replica", 50, 50),  # an instant kill: at 10s
        (1, "slow-checkout", 60, 80),  # at 20s for 20s
        (2, "broken-dependency", 85, 95),  # at 45s for 10s
        (3, "custom-action", 40, 70),  # at 0s for 30s
    ]


def test_local_platform_uses_its_own_scrape_interval(spec: LoadedExperiment) -> None:
    plan = build_plan(spec)  # the spec example gives a prometheus block, but local runs its own
    assert (plan.scrape_interval_s, plan.settle_s, plan.guard_s, plan.lookback_s) == (1, 3, 0, 5)


def test_external_platform_waits_for_its_scrape_interval(tmp_path: Path) -> None:
    target = "target: {platform: external}\nprometheus: {url: 'http://127.0.0.1:9', scrape_interval: 15s}"
    _, plan = plan_of(small_experiment(tmp_path, "{}", target))
    assert (plan.scrape_interval_s, plan.settle_s, plan.lookback_s) == (15, 31, 45)


def test_settle_can_be_set(tmp_path: Path) -> None:
    _, plan = plan_of(small_experiment(tmp_path, "{settle: 7s}"))
    assert plan.settle_s == 7


@pytest.mark.parametrize(
    ("guard", "windows"),
    [
        pytest.param("0s", {"baseline": (5, 35), "fault": (35, 55), "recovery": (55, 95)}, id="no_guard"),
        pytest.param("2s", {"baseline": (7, 33), "fault": (37, 53), "recovery": (57, 93)}, id="guard_2s"),
    ],
)
def test_judged_window_leaves_the_guard_out_on_both_sides(
    tmp_path: Path, guard: str, windows: dict[str, tuple[float, float]]
) -> None:
    _, plan = plan_of(small_experiment(tmp_path, f"{{guard: {guard}}}"))
    assert {phase: judged_window(plan, phase) for phase in windows} == windows


def test_sli_queries_of_ratio_and_latency(spec: LoadedExperiment) -> None:
    plan = build_plan(spec)
    ratio = plan.sli("checkout-availability")
    assert (ratio.kind, ratio.good, ratio.bad, ratio.total) == ("ratio", GOOD, None, TOTAL)
    assert ratio.exact_countable
    latency = sli_queries(spec.slo("checkout-latency"))
    assert (latency.kind, latency.good, latency.total, latency.threshold_s) == (
        "latency",
        'http_request_duration_seconds_bucket{route="/api/checkout",le="0.3"}',
        'http_request_duration_seconds_count{route="/api/checkout"}',
        0.3,
    )
    bucket = 'http_request_duration_seconds_bucket{route="/api/checkout",le="0.30"}'
    assert latency.with_bound("0.30").good == bucket


def test_window_queries_exact_and_increase(spec: LoadedExperiment) -> None:
    sli = build_plan(spec).sli("checkout-availability")
    assert window_queries(sli, 30, exact=True, lookback_s=5) == {
        "good": f"{GOOD}[35s]", "total": f"{TOTAL}[35s]"}
    assert window_queries(sli, 30, exact=False, lookback_s=5) == {
        "good": f"sum(increase({GOOD}[30s]))", "total": f"sum(increase({TOTAL}[30s]))"}
    assert window_queries(sli, 1.5, exact=False, lookback_s=5)["total"] == f"sum(increase({TOTAL}[1500ms]))"


def test_expressions_with_a_window_placeholder_are_counted_with_increase(tmp_path: Path) -> None:
    _, plan = plan_of(small_experiment(tmp_path, "{counting: exact}"))
    sli = plan.sli("by-expression")
    assert not sli.exact_countable
    assert window_queries(sli, 20, exact=True, lookback_s=5) == {
        "bad": "sum(increase(errors_total[20s]))", "total": "sum(increase(requests_total[20s]))"}


def test_printed_plan_has_the_exact_queries_of_every_judged_phase(spec: LoadedExperiment) -> None:
    text = describe_plan(spec, build_plan(spec))
    assert has_block(text, [
        "  SLO checkout-availability: objective 99.5% over 30d (source: inline); a phase needs at least 765 "
        "events with no errors to PASS",
        "    baseline (window +10s .. +40s, 30s; queries at its end):",
        f"      good  {GOOD}[35s]",
        f"      total {TOTAL}[35s]",
        "    fault (window +40s .. +100s, 60s; queries at its end):",
        f"      good  {GOOD}[65s]",
        f"      total {TOTAL}[65s]",
        "    recovery (window +100s .. +130s, 30s; queries at its end):",
        f"      good  {GOOD}[35s]",
        f"      total {TOTAL}[35s]",
        "    limits: budget consumed <= 2%; burn rate <= 20",
    ])
    latency = text[text.index("SLO checkout-latency"):]
    assert "    baseline (window +10s .. +40s, 30s; queries at its end):" in latency
    assert "    fault (" not in latency  # checkout-latency judges baseline and recovery only
    assert '      good  http_request_duration_seconds_bucket{route="/api/checkout",le="0.3"}[35s]' in latency


def test_printed_plan_with_increase_and_a_guard(tmp_path: Path) -> None:
    loaded, plan = plan_of(small_experiment(tmp_path, "{counting: increase, guard: 2s}"))
    text = describe_plan(loaded, plan)
    assert has_block(text, [
        "    baseline (window +7s .. +33s, 26s; queries at its end):",
        '      bad   sum(increase(http_requests_total{code=~"5.."}[26s]))',
        "      total sum(increase(http_requests_total[26s]))",
        "    fault (window +37s .. +53s, 16s; queries at its end):",
        '      bad   sum(increase(http_requests_total{code=~"5.."}[16s]))',
        "      total sum(increase(http_requests_total[16s]))",
        "    recovery (window +57s .. +93s, 36s; queries at its end):",
        '      bad   sum(increase(http_requests_total{code=~"5.."}[36s]))',
        "      total sum(increase(http_requests_total[36s]))",
    ])
    assert has_block(text, [
        "    fault (window +37s .. +53s, 16s; queries at its end):",
        "      bad   sum(increase(errors_total[16s]))",
        "      total sum(increase(requests_total[16s]))",
    ])
    assert "evidence: counted with increase()" in text


def test_printed_plan_shows_faults_as_written(spec: LoadedExperiment) -> None:
    lines = describe_plan(spec, build_plan(spec)).splitlines()
    faults = {line.split()[0]: line for line in lines[lines.index("faults:") + 1:] if line.startswith("  ")}
    assert faults["kill-one-replica"].endswith("+50s (instant)       on replicas matching app=shop; count=1")
    assert faults["slow-checkout"].endswith("on all replicas of the target; delay=200ms, jitter=20ms")
    assert faults["broken-dependency"].endswith("on all replicas of the target; rate=5%, status=503")
    assert faults["custom-action"].endswith("+40s .. +70s         on all replicas of the target")


def test_plan_command_prints_the_plan_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROM_TOKEN", "token")
    monkeypatch.chdir(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in DATA.rglob("*")}
    assert cli.main(["plan", str(SPEC_EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"experiment checkout-survives-pod-kill ({SPEC_EXAMPLE})\n")
    assert out.endswith("nothing was started or changed\n")
    assert err == ""
    assert list(tmp_path.iterdir()) == []
    assert {p: p.stat().st_mtime_ns for p in DATA.rglob("*")} == before


def test_plan_prints_an_inline_histogram_selector_and_expectations_in_words(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = small_experiment(tmp_path, "{}")
    text = path.read_text().replace(
        "load: {", "  - name: lat\n    objective: 95\n    sli: {latency: {histogram: "
        "'http_request_duration_seconds{node=\"app1\"}', threshold: 300ms}}\nload: {", 1).replace(
        "hypothesis:\n", "expect:\n  - {recovers: availability, within: 15s}\nhypothesis:\n  - slo: lat\n", 1)
    path.write_text(text)
    assert cli.main(["plan", str(path)]) == 0
    out = capsys.readouterr().out
    assert 'http_request_duration_seconds_bucket{node="app1",le="0.3"}' in out
    assert ("expect recovers availability within 15s (trailing window 10s), counted from the end of the last fault"
            in out)
    assert "scrape interval 1s (the local Prometheus)" in out
