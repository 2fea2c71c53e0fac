"""Importing Sloth `prometheus/v1` and OpenSLO v1 SLO files, with examples from their own repositories."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from harness.errors import SpecError
from harness.promql import increase_query
from harness.spec.imports import window_expression
from harness.spec.loader import load_experiment
from harness.spec.models import InlineSLO
from harness.spec.openslo import parse_openslo_duration
from harness.spec.slo_files import import_slos

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"
DAY = 86400.0


def twins(text: str) -> list[InlineSLO]:
    """Hand-written inline SLOs, as an experiment's `slos:` list would hold them."""
    return [InlineSLO.model_validate(entry) for entry in yaml.safe_load(textwrap.dedent(text))]


def problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(SpecError) as caught:
        import_slos(path, environ or {})
    assert caught.value.problems, "a SpecError must list its problems"
    return caught.value.problems


def write(tmp_path: Path, text: str, name: str = "slos.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# -- the same verdict as the inline twin -----------------------------------------------------------------

TWINS = {
    "sloth-getting-started.yml": """
        - name: requests-availability
          objective: 99.9
          description: Common SLO based on availability for HTTP request responses.
          sli:
            ratio:
              bad: 'http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}'
              total: 'http_request_duration_seconds_count{job="myservice"}'
        """,
    "sloth-kubernetes-apiserver.yml": """
        - name: requests-availability
          objective: 99.9
          period: 30d
          sli:
            ratio:
              bad: 'apiserver_request_total{code=~"(5..|429)"}'
              total: apiserver_request_total
        - name: requests-latency
          objective: 99
          sli:
            ratio:
              bad: |-
                (
                  sum(increase(apiserver_request_duration_seconds_count{verb!="WATCH"}[{{window}}]))
                  -
                  sum(increase(apiserver_request_duration_seconds_bucket{le="0.4",verb!="WATCH"}[{{window}}]))
                )
              total: 'apiserver_request_duration_seconds_count{verb!="WATCH"}'
        """,
    "sloth-home-wifi.yml": """
        - name: good-wifi-client-satisfaction
          objective: 95
          sli:
            ratio:
              bad: sum_over_time((count(unifipoller_client_satisfaction_ratio < 0.75))[{{window}}:])
                OR on() vector(0)
              total: sum_over_time((count(unifipoller_client_satisfaction_ratio))[{{window}}:])
        - name: risk-wifi-client-satisfaction
          objective: 99.9
          sli:
            ratio:
              bad: sum_over_time((count(unifipoller_client_satisfaction_ratio < 0.5))[{{window}}:])
                OR on() vector(0)
              total: sum_over_time((count(unifipoller_client_satisfaction_ratio))[{{window}}:])
        """,
    "openslo-indicatorref.yaml": """
        - name: test-slo
          objective: 98
          period: 1d
          description: This is a great description
          sli:
            ratio:
              bad: 'localhost_server_requests{code=~"5xx",host="*",instance="127.0.0.1:9090"}'
              total: 'localhost_server_requests{code="total",host="*",instance="127.0.0.1:9090"}'
        """,
    "openslo-foo-slo-prometheus.yaml": """
        - name: foo-slo-foo-total-errors
          objective: 98
          period: 4w
          sli:
            ratio:
              good: 'localhost_server_requests{code=~"2xx|3xx",host="*",instance="127.0.0.1:9090"}'
              total: 'localhost_server_requests{code="total",host="*",instance="127.0.0.1:9090"}'
        - name: foo-slo-bar-total-errors
          objective: 99.99
          period: 4w
          sli:
            ratio:
              good: 'localhost_server_requests{code=~"2xx|3xx",host="*",instance="127.0.0.1:9090"}'
              total: 'localhost_server_requests{code="total",host="*",instance="127.0.0.1:9090"}'
        """,
    "openslo-v1-slos-occurrences.yaml": """
        - name: web-availability
          objective: 99.5
          period: 1w
          description: X% of search requests are successful
          sli:
            ratio:
              good: 'http_requests{k8s_cluster="prod",component="web",code=~"2xx|4xx"}'
              total: 'http_requests{k8s_cluster="prod",component="web"}'
        """,
}


@pytest.mark.parametrize("name", sorted(TWINS))
def test_an_imported_slo_equals_its_inline_twin(name: str) -> None:
    assert import_slos(DATA / name) == twins(TWINS[name])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sloth-getting-started.yml", [("requests-availability", Decimal("99.9"), 30 * DAY)]),
        ("sloth-kubernetes-apiserver.yml",
         [("requests-availability", Decimal("99.9"), 30 * DAY),
          ("requests-latency", Decimal("99"), 30 * DAY)]),
        ("openslo-indicatorref.yaml", [("test-slo", Decimal("98"), DAY)]),
        ("openslo-foo-slo-prometheus.yaml",
         [("foo-slo-foo-total-errors", Decimal("98"), 28 * DAY),
          ("foo-slo-bar-total-errors", Decimal("99.99"), 28 * DAY)]),
        ("openslo-v1-slos-occurrences.yaml", [("web-availability", Decimal("99.5"), 7 * DAY)]),
    ],
)
def test_name_objective_and_period(name: str, expected: list[tuple[str, Decimal, float]]) -> None:
    slos = import_slos(DATA / name)
    assert [(slo.name, slo.objective, slo.period) for slo in slos] == expected
    texts = [str(objective) for _, objective, _ in expected]
    assert [str(slo.objective) for slo in slos] == texts


def test_sloth_rate_of_a_selector_becomes_the_selector() -> None:
    (slo,) = import_slos(DATA / "sloth-getting-started.yml")
    ratio = slo.sli.ratio
    assert ratio is not None and ratio.good is None
    assert ratio.bad == 'http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}'
    expected = 'sum(increase(http_request_duration_seconds_count{job="myservice"}[600s]))'
    assert increase_query(ratio.total, 600) == expected


def test_sloth_expression_counts_events_over_the_window() -> None:
    latency = import_slos(DATA / "sloth-kubernetes-apiserver.yml")[1]
    assert latency.sli.ratio is not None and latency.sli.ratio.bad is not None
    query = increase_query(latency.sli.ratio.bad, 600)
    assert "rate(" not in query
    assert 'sum(increase(apiserver_request_duration_seconds_bucket{le="0.4",verb!="WATCH"}[600s]))' in query


@pytest.mark.parametrize("name", sorted(TWINS))
def test_every_imported_query_is_accepted_by_the_query_builder(name: str) -> None:
    for slo in import_slos(DATA / name):
        ratio = slo.sli.ratio
        assert ratio is not None
        for query in (ratio.good, ratio.bad, ratio.total):
            if query is not None:
                built = increase_query(query, 90)
                assert "[90s" in built and "{{" not in built


APISERVER_SERIES = [  # one sample a minute
    {"series": 'apiserver_request_total{code="200"}', "values": "0+10x20"},
    {"series": 'apiserver_request_total{code="500"}', "values": "0+1x20"},
    {"series": 'apiserver_request_total{code="429"}', "values": "0+1x20"},
    {"series": 'apiserver_request_duration_seconds_count{verb="GET"}', "values": "0+12x20"},
    {"series": 'apiserver_request_duration_seconds_bucket{le="0.4",verb="GET"}', "values": "0+9x20"},
    {"series": 'apiserver_request_duration_seconds_count{verb="WATCH"}', "values": "0+100x20"},
]


@pytest.mark.integration
def test_imported_queries_count_the_events_sloth_rates(tmp_path: Path) -> None:
    """Prometheus's own engine (promtool): each imported query = Sloth's query x window, in event counts."""
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool (Debian package prometheus) is needed"
    source = yaml.safe_load((DATA / "sloth-kubernetes-apiserver.yml").read_text(encoding="utf-8"))["slos"]
    imported = import_slos(DATA / "sloth-kubernetes-apiserver.yml")
    cases = []
    for original, slo in zip(source, imported, strict=True):
        assert slo.sli.ratio is not None
        for key, ours in (("error_query", slo.sli.ratio.bad), ("total_query", slo.sli.ratio.total)):
            assert ours is not None
            theirs = original["sli"]["events"][key].replace("{{.window}}", "5m")
            cases.append((f"round(({increase_query(ours, 300)}) - ({theirs}) * 300, 0.000001)", 0))
        cases.append((increase_query(slo.sli.ratio.total, 300), 60))  # events, not events per second
    latency = imported[1].sli.ratio
    assert latency is not None and latency.bad is not None
    cases.append((increase_query(latency.bad, 300), 15))  # (12 - 9) slow requests a minute, for 5 minutes
    tests = [{"expr": expr, "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": value}]}
             for expr, value in cases]
    spec = {"rule_files": [], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": APISERVER_SERIES, "promql_expr_test": tests}]}
    path = tmp_path / "imports_test.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


# -- refusals --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sloth-raw-home-wifi.yml",
         "sloth-raw-home-wifi.yml:16 slos[0].sli.raw: a raw error-ratio SLI has no event counts, so no "
         "confidence bound or budget can be computed; rewrite it as events"),
        ("sloth-plugin-getting-started.yml",
         "sloth-plugin-getting-started.yml:15 slos[0].sli.plugin: an SLI plugin is code that Sloth runs"),
        ("openslo-threshold.yaml",
         "openslo-threshold.yaml:18 spec.indicator.spec.thresholdMetric: a thresholdMetric SLI compares"),
        ("openslo-timeslices.yaml",
         "openslo-timeslices.yaml:34 spec.budgetingMethod: Timeslices judges time slices"),
        ("openslo-ratio-timeslices.yaml",
         "openslo-ratio-timeslices.yaml:31 spec.budgetingMethod: RatioTimeslices judges time slices"),
        ("openslo-v1-slos-timeslices.yaml",
         "openslo-v1-slos-timeslices.yaml:38 [0].spec.budgetingMethod: Timeslices judges time slices"),
        ("openslo-foo-slo-datadog.yaml",
         "openslo-foo-slo-datadog.yaml:20 spec.indicator.spec.ratioMetric.good.metricSource.type: "
         "metric source type 'Datadog' is not supported"),
        ("openslo-timeslices.yaml",
         "openslo-timeslices.yaml:25 spec.indicator.spec.ratioMetric.total.metricSource.type: "
         "metric source type 'Any' is not supported"),
    ],
)
def test_refusals_name_the_file_line_and_field(name: str, expected: str) -> None:
    found = problems(DATA / name)
    assert any(problem.startswith(f"{DATA}/{expected}") for problem in found), found


def test_problems_are_listed_in_line_order() -> None:
    lines = [int(problem.split(":")[1].split()[0]) for problem in problems(DATA / "openslo-timeslices.yaml")]
    assert lines == sorted(lines) and len(lines) == 3


OPENSLO_HEAD = """
    apiVersion: openslo/v1
    kind: SLO
    metadata:
      name: checkout
    spec:
      service: shop
      budgetingMethod: Occurrences
      objectives:
        - target: 0.995
      indicator:
        metadata: {name: checkout-ratio}
        spec:
          ratioMetric:
"""


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [
        pytest.param("""
            rawType: failure
            raw: {metricSource: {type: Prometheus, spec: {query: 'x'}}}
            """, "15 spec.indicator.spec.ratioMetric.raw: a raw (precomputed) ratio has no event counts",
            id="raw_ratio"),
        pytest.param("""
            counter: false
            bad: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(errors_total[5m]))'}}}
            total: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(requests_total[{{.window}}]))'}}}
            """, "15 spec.indicator.spec.ratioMetric.bad.metricSource.spec.query: with counter: false",
            id="gauge_without_window"),
        pytest.param("""
            counter: true
            bad: {metricSource: {type: Prometheus, spec: {query: 'sum by (code) (errors_total)'}}}
            total: {metricSource: {type: Prometheus, spec: {query: requests_total}}}
            """, "15 spec.indicator.spec.ratioMetric.bad.metricSource.spec.query: expected a counter",
            id="grouped_counter"),
        pytest.param("""
            counter: true
            good: {metricSource: {type: Prometheus, spec: {query: 'sum(irate(ok_total[{{.window}}]))'}}}
            total: {metricSource: {type: Prometheus, spec: {query: requests_total}}}
            """, "15 spec.indicator.spec.ratioMetric.good.metricSource.spec.query: irate() reads only",
            id="irate"),
        pytest.param("""
            counter: true
            good: {metricSource: {type: Prometheus, spec: {query: ok_total}}}
            bad: {metricSource: {type: Prometheus, spec: {query: errors_total}}}
            total: {metricSource: {type: Prometheus, spec: {query: requests_total}}}
            """, "14 spec.indicator.spec.ratioMetric: give exactly one of good or bad", id="good_and_bad"),
        pytest.param("""
            counter: true
            good: {metricSource: {spec: {query: ok_total}}}
            total: {metricSource: {type: prometheus, spec: {query: requests_total}}}
            """, "15 spec.indicator.spec.ratioMetric.good.metricSource: required field is missing: type",
            id="no_source_type"),
        pytest.param("""
            counter: yes please
            good: {metricSource: {type: Prometheus, spec: {query: ok_total}}}
            total: {metricSource: {type: Prometheus, spec: {query: requests_total}}}
            """, "14 spec.indicator.spec.ratioMetric.counter: expected true or false", id="counter_not_bool"),
    ],
)
def test_openslo_ratio_metric_problems(tmp_path: Path, ratio: str, expected: str) -> None:
    body = textwrap.dedent(OPENSLO_HEAD) + textwrap.indent(textwrap.dedent(ratio).strip("\n"), " " * 8) + "\n"
    path = write(tmp_path, body)
    found = problems(path)
    assert any(problem.startswith(f"{path}:{expected}") for problem in found), found


# -- malformed files -------------------------------------------------------------------------------------

SLOTH_OK = """
    version: "prometheus/v1"
    service: shop
    slos:
      - name: {name}
        objective: {objective}
        sli:
          events:
            error_query: sum(rate(http_requests_total{{code=~"5.."}}[{{{{.window}}}}]))
            total_query: {total}
"""


def sloth(tmp_path: Path, name: str = "availability", objective: str = "99.5",
          total: str = "sum(rate(http_requests_total[{{.window}}]))") -> Path:
    return write(tmp_path, SLOTH_OK.format(name=name, objective=objective, total=total))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"name": "Requests_Availability"},
                     "4 slos[0].name: the Sloth SLO name 'Requests_Availability' cannot name an SLO here "
                     "(use lowercase letters, digits and '-' (not at either end), "
                     "got 'Requests_Availability'): "
                     "rename it in this file, e.g. 'requests-availability'", id="invalid_name"),
        pytest.param({"objective": "100"}, "5 slos[0].objective: an objective of 100% leaves no error budget",
                     id="objective_100"),
        pytest.param({"objective": '"high"'}, "5 slos[0].objective: expected a number (a percent like 99.9)",
                     id="objective_text"),
        pytest.param({"total": "sum(rate(http_requests_total[5m]))"},
                     "9 slos[0].sli.events.total_query: the query has no {{.window}} placeholder",
                     id="no_window"),
        pytest.param({"total": 'sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))'},
                     "9 slos[0].sli.events.total_query: error_query and total_query are the same query",
                     id="same_queries"),
        pytest.param({"total": "sum(rate(http_requests_total[{{.window}}])) / {{.service}}"},
                     "9 slos[0].sli.events.total_query: only the {{.window}} template variable",
                     id="other_var"),
    ],
)
def test_sloth_malformed_slo(tmp_path: Path, fields: dict[str, str], expected: str) -> None:
    path = sloth(tmp_path, **fields)
    found = problems(path)
    assert any(problem.startswith(f"{path}:{expected}") for problem in found), found


def test_sloth_unknown_field_and_missing_objective(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: "prometheus/v1"
        service: shop
        slos:
          - name: availability
            objectiv: 99.5
            sli:
              events:
                error_query: sum(rate(errors_total[{{.window}}]))
                total_query: sum(rate(requests_total[{{.window}}]))
        """)
    found = problems(path)
    assert found[0].startswith(f"{path}:4 slos[0].objective: required field is missing")
    assert found[1].startswith(f"{path}:5 slos[0].objectiv: unknown field in a Sloth SLO (check the spelling")


def test_sloth_window_with_spaces_and_an_environment_variable(tmp_path: Path) -> None:
    path = sloth(tmp_path, total='sum(rate(http_requests_total{job="${JOB}"}[{{ .window }}]))')
    (slo,) = import_slos(path, {"JOB": "shop"})
    assert slo.sli.ratio is not None and slo.sli.ratio.total == 'http_requests_total{job="shop"}'
    missing = problems(path, {})
    assert missing[0].startswith(f"{path}:9 slos[0].sli.events.total_query: environment variable JOB is not")


def test_sloth_names_used_twice_are_reported_with_both_lines() -> None:
    (found,) = problems(DATA / "sloth-multifile.yml")
    assert found.startswith(f"{DATA}/sloth-multifile.yml:44 slos[0].name: SLO name 'requests-availability' "
                            "is already used by the SLO of Sloth service 'myservice' (line 12)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("version: prometheus/v2\nslos: []\n", "1 version: unsupported Sloth spec version",
                     id="sloth_v2"),
        pytest.param("apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\n",
                     "1 apiVersion: Sloth's Kubernetes PrometheusServiceLevel is not supported",
                     id="sloth_crd"),
        pytest.param("apiVersion: openslo/v1alpha\nkind: SLO\n", "1 apiVersion: only openslo/v1 is supported",
                     id="openslo_v1alpha"),
        pytest.param("groups: []\n", "1: not a Sloth (version: prometheus/v1) or OpenSLO",
                     id="prometheus_rules"),
        pytest.param("version: prometheus/v1\nslos:\n  - name: [x\n", "4: not valid YAML", id="bad_yaml"),
    ],
)
def test_not_an_slo_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "file.yaml"
    path.write_text(text, encoding="utf-8")
    found = problems(path)
    assert found[0].startswith(f"{path}:{expected}"), found


def test_missing_file_and_file_without_slos(tmp_path: Path) -> None:
    assert problems(tmp_path / "absent.yaml") == [f"{tmp_path}/absent.yaml: file not found"]
    (found,) = problems(DATA / "openslo-v1-slis.yaml")
    assert found.startswith(f"{DATA}/openslo-v1-slis.yaml: no SLO in this file")


def test_openslo_upstream_files_that_are_incomplete() -> None:
    (missing_method,) = problems(DATA / "openslo-sdk-v1-slos.yaml")
    assert missing_method.startswith(f"{DATA}/openslo-sdk-v1-slos.yaml:9 [0].spec.budgetingMethod: "
                                     "required field is missing")
    (dangling,) = problems(DATA / "openslo-schema-test-slo.yaml")
    assert dangling.startswith(f"{DATA}/openslo-schema-test-slo.yaml:11 spec.indicatorRef: no SLI named "
                               "'indicatorRefString' in this file")


OPENSLO_SLO = """
    apiVersion: openslo/v1
    kind: SLO
    metadata:
      name: {name}
    spec:
      service: shop
      budgetingMethod: Occurrences
      timeWindow:
        - duration: {duration}
          isRolling: true
      objectives:
        {objectives}
      indicatorRef: checkout-ratio
    ---
    apiVersion: openslo/v1
    kind: SLI
    metadata:
      name: checkout-ratio
    spec:
      ratioMetric:
        counter: true
        bad:
          metricSource: {{metricSourceRef: {ref}, spec: {{query: 'http_requests_total{{code=~"5.."}}'}}}}
        total:
          metricSource: {{type: Prometheus, spec: {{query: http_requests_total}}}}
    ---
    apiVersion: openslo/v1
    kind: DataSource
    metadata:
      name: metrics
    spec:
      type: {source_type}
      connectionDetails: {{url: http://prometheus.example:9090}}
"""


def openslo(tmp_path: Path, name: str = "checkout", duration: str = "30d",
            objectives: str = "- {target: 0.995}", ref: str = "metrics",
            source_type: str = "Prometheus") -> Path:
    return write(tmp_path, OPENSLO_SLO.format(name=name, duration=duration, objectives=objectives, ref=ref,
                                              source_type=source_type))


def test_openslo_type_from_the_data_source_and_calendar_month(tmp_path: Path) -> None:
    (slo,) = import_slos(openslo(tmp_path, duration="1M"))
    assert (slo.name, slo.objective, slo.period) == ("checkout", Decimal("99.5"), 30 * DAY)
    assert slo.sli.ratio is not None and slo.sli.ratio.bad == 'http_requests_total{code=~"5.."}'


def test_openslo_objectives_without_display_names_are_numbered(tmp_path: Path) -> None:
    path = openslo(tmp_path, objectives="- {target: 0.99}\n        - {targetPercent: 99.9}")
    assert [(slo.name, slo.objective) for slo in import_slos(path)] == [
        ("checkout-0", Decimal("99")), ("checkout-1", Decimal("99.9"))]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"duration": "30s"}, "9 spec.timeWindow[0].duration: expected a positive whole number "
                     "with a unit: m (minutes), h, d, w, M (months)", id="seconds_unit"),
        pytest.param({"duration": "30D"}, "9 spec.timeWindow[0].duration: expected a positive whole number",
                     id="upper_case_day"),
        pytest.param({"objectives": "- {target: 99.5}"}, "12 spec.objectives[0].target: target is a fraction "
                     "in [0, 1), got 99.5 (did you mean targetPercent: 99.5?)", id="percent_as_target"),
        pytest.param({"objectives": "- {target: 0.99, targetPercent: 99}"},
                     "12 spec.objectives[0]: give exactly one of target", id="target_and_percent"),
        pytest.param({"objectives": "- {displayName: fast, target: 0.99, indicatorRef: other}"},
                     "12 spec.objectives[0].indicatorRef: composite SLOs", id="composite"),
        pytest.param({"ref": "elsewhere"}, "23 spec.ratioMetric.bad.metricSource.metricSourceRef: no "
                     "DataSource 'elsewhere' with a type in this file", id="dangling_source"),
        pytest.param({"source_type": "CloudWatch"}, "23 spec.ratioMetric.bad.metricSource.metricSourceRef: "
                     "metric source type 'CloudWatch' is not supported", id="source_type_from_data_source"),
        pytest.param({"name": "CheckoutSLO"},
                     "4 metadata.name: the OpenSLO SLO name 'CheckoutSLO' cannot name an SLO here",
                     id="invalid_name"),
        pytest.param({"objectives": "- {displayName: Fast, target: 0.99}\n        - {displayName: fast, "
                     "target: 0.9}"}, "13 spec.objectives[1].displayName: SLO name 'checkout-fast' is "
                     "already used by OpenSLO SLO 'checkout' (line 12)", id="same_display_names"),
    ],
)
def test_openslo_malformed(tmp_path: Path, fields: dict[str, str], expected: str) -> None:
    path = openslo(tmp_path, **fields)
    found = problems(path)
    assert any(problem.startswith(f"{path}:{expected}") for problem in found), found


def test_openslo_unknown_fields_are_errors_but_other_kinds_are_ignored(tmp_path: Path) -> None:
    slo = OPENSLO_SLO.format(name="checkout", duration="30d", objectives="- {target: 0.995}", ref="metrics",
                             source_type="Prometheus").replace("budgetingMethod:", "budgetMethod:")
    path = write(tmp_path, textwrap.dedent(slo) + textwrap.dedent("""
        ---
        apiVersion: openslo/v1
        kind: Service
        metadata: {name: shop}
        spec: {description: The shop}
        """))
    found = problems(path)
    assert [problem.split(": ", 1)[0] for problem in found] == [
        f"{path}:6 spec.budgetingMethod", f"{path}:7 spec.budgetMethod"]
    assert "unknown field in an OpenSLO SLO spec (check the spelling" in found[1]


# -- pure helpers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param('sum(rate(x_total{a="1"}[{{.window}}]))', 'x_total{a="1"}', id="summed_rate"),
        pytest.param("sum (increase( x_total [ {{ .window }} ] ))", "x_total", id="summed_increase_spaces"),
        pytest.param("sum(rate(a_total[{{.window}}])) - sum(rate(b_total[{{.window}}]))",
                     "sum(increase(a_total[{{window}}])) - sum(increase(b_total[{{window}}]))",
                     id="difference"),
        pytest.param('sum(rate(x_total{path="rate(1)"}[{{.window}}])) + sum(rate(y[{{.window}}]))',
                     'sum(increase(x_total{path="rate(1)"}[{{window}}])) + sum(increase(y[{{window}}]))',
                     id="rate_inside_a_label_value"),
        pytest.param("sum_over_time(up[{{.window}}:])", "sum_over_time(up[{{window}}:])", id="subquery"),
        pytest.param("sum(rate(x[5m])) * 0 + sum(increase(y[{{.window}}]))",
                     "sum(rate(x[5m])) * 0 + sum(increase(y[{{window}}]))", id="fixed_range_rate_kept"),
        pytest.param("sum(my_rate(x[{{.window}}]))", "sum(my_rate(x[{{window}}]))", id="other_function"),
    ],
)
def test_window_expression(query: str, expected: str) -> None:
    assert window_expression(query) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("12h", 43200), ("1d", 86400), ("4w", 2419200), ("1M", 2592000), ("1Q", 7776000),
     ("1Y", 31536000), ("365d", 31536000)],
)
def test_openslo_durations(text: str, seconds: int) -> None:
    assert parse_openslo_duration(text) == seconds


@pytest.mark.parametrize("text", ["0d", "1.5d", "M", "1s", "1 d", "-1d", "1mo"])
def test_openslo_durations_refused(text: str) -> None:
    with pytest.raises(ValueError, match="units are case-sensitive"):
        parse_openslo_duration(text)


# -- through the experiment loader -----------------------------------------------------------------------


def test_experiment_loads_imported_slos_beside_an_inline_one() -> None:
    loaded = load_experiment(DATA / "experiment.yaml", {})
    assert [slo.name for slo in loaded.slos] == ["requests-availability", "test-slo", "checkout-availability"]
    assert loaded.slo("requests-availability") == twins(TWINS["sloth-getting-started.yml"])[0]
    assert loaded.slo("test-slo") == twins(TWINS["openslo-indicatorref.yaml"])[0]
    assert loaded.slo_sources == {"requests-availability": str(DATA / "sloth-getting-started.yml"),
                                  "test-slo": str(DATA / "openslo-indicatorref.yaml"),
                                  "checkout-availability": "inline"}


def test_experiment_reports_the_imported_files_problems_under_its_import_line() -> None:
    with pytest.raises(SpecError) as caught:
        load_experiment(DATA / "experiment-bad-import.yaml", {})
    found = caught.value.problems
    assert found[0] == (f"{DATA}/experiment-bad-import.yaml:7 slos[0].import: "
                        "cannot import sloth-raw-home-wifi.yml:")
    assert found[1].startswith(f"  {DATA}/sloth-raw-home-wifi.yml:16 slos[0].sli.raw: a raw error-ratio SLI")
    assert any("no SLO named 'wifi-client-satisfaction'" in problem for problem in found[2:])
