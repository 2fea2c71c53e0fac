"""Loading experiments and load profiles: the spec's examples, `${ENV}`, relative paths, profile lookup."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.spec.faults import ChaosToolkit, HttpError, Latency, PodKill
from harness.spec.loader import load_experiment, load_profile
from harness.spec.models import ExpectAlert, ExpectRecovers, ExpectReplicasReady

DATA = Path(__file__).resolve().parents[1] / "data" / "spec"
SPEC_EXAMPLE = DATA / "spec-example" / "experiment.yaml"
SPEC_EXAMPLE_STDLIB = DATA / "spec-example" / "experiment-stdlib.yaml"
SPEC_PROFILE = DATA / "loadprofiles" / "steady-peak.yaml"
TOKEN = "s3cret-t0ken"

MINIMAL_SLOS = """
    slos:
      - name: availability
        objective: 99.9
        sli:
          ratio:
            bad: 'http_requests_total{code=~"5.."}'
            total: http_requests_total
    hypothesis:
      - slo: availability
    """
PROFILE = """
    apiVersion: harness/v1
    kind: LoadProfile
    metadata:
      name: {name}
    requests:
      - {{name: home, path: /}}
    stages:
      - {{duration: 10s, users: 5, spawn_rate: 5}}
    """


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def experiment(name: str, profile: str, extra: str = "") -> str:
    head = f"""
    apiVersion: harness/v1
    kind: Experiment
    metadata:
      name: {name}
    load:
      profile: {profile}
    """
    # No blank lines between the parts: `extra` starts on line 16.
    parts = (textwrap.dedent(text).strip("\n") for text in (head, MINIMAL_SLOS, extra))
    return "\n".join(part for part in parts if part) + "\n"


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_experiment(path, {} if environ is None else environ)
    return caught.value.problems


# -- the spec's examples ------------------------------------------------------------------------------


def test_spec_example_verbatim_validates_now_that_chaosk8s_is_a_dependency() -> None:
    # its drain-node fault names chaosk8s.node.actions, checked against the installed module's signatures
    loaded = load_experiment(SPEC_EXAMPLE, {"PROM_TOKEN": TOKEN})
    assert [f.type for f in loaded.experiment.faults] == ["pod-kill", "latency", "http-error", "chaostoolkit"]


def test_stdlib_variant_differs_from_the_spec_example_only_in_the_providers() -> None:
    verbatim = [line for line in SPEC_EXAMPLE.read_text().splitlines() if not line.startswith("#")]
    variant = [line for line in SPEC_EXAMPLE_STDLIB.read_text().splitlines() if not line.startswith("#")]
    differing = [(a.strip(), b.strip()) for a, b in zip(verbatim, variant, strict=True) if a != b]
    assert [pair[0] for pair in differing] == [
        'provider: {type: python, module: chaosk8s.node.actions, func: drain_nodes, arguments: '
        '{label_selector: "pool=a"}}',
        'provider: {type: python, module: chaosk8s.node.actions, func: uncordon_node, arguments: '
        '{label_selector: "pool=a"}}',
    ]


def test_spec_example_loads_with_every_field() -> None:
    loaded = load_experiment(SPEC_EXAMPLE_STDLIB, {"PROM_TOKEN": TOKEN})
    exp = loaded.experiment
    assert loaded.name == "checkout-survives-pod-kill"
    assert exp.metadata.labels == {"team": "payments", "gate": "release"}
    assert exp.target.platform == "local"
    assert exp.target.local is not None and exp.target.local.replicas == 3
    assert exp.prometheus is not None
    assert exp.prometheus.url == "http://127.0.0.1:9090"
    assert exp.prometheus.headers == {"Authorization": f"Bearer {TOKEN}"}
    assert exp.load.profile == "steady-peak" and exp.load.host == "http://127.0.0.1:8080"
    assert (exp.phases.warmup, exp.phases.baseline, exp.phases.fault, exp.phases.recovery) == (10, 30, 60, 30)
    assert exp.abort is not None
    assert (exp.abort.max_burn_rate, exp.abort.window, exp.abort.check_every, exp.abort.consecutive) == (
        100, 30, 2, 2)


def test_spec_example_slos_inline_and_imported() -> None:
    loaded = load_experiment(SPEC_EXAMPLE_STDLIB, {"PROM_TOKEN": TOKEN})
    names = [slo.name for slo in loaded.slos]
    assert names == ["checkout-availability", "checkout-latency", "checkout-errors"]
    availability = loaded.slo("checkout-availability")
    assert availability.objective == Decimal("99.5") and availability.period == 30 * 86400
    assert availability.sli.ratio is not None
    assert availability.sli.ratio.good == 'http_requests_total{route="/api/checkout",code!~"5.."}'
    latency = loaded.slo("checkout-latency").sli.latency
    assert latency is not None
    assert (latency.histogram, latency.selector, latency.threshold) == (
        "http_request_duration_seconds", '{route="/api/checkout"}', 0.3)
    imported = loaded.slo("checkout-errors")
    assert imported.objective == Decimal("99.9") and imported.period == 28 * 86400
    assert loaded.slo_sources["checkout-availability"] == "inline"
    assert loaded.slo_sources["checkout-errors"] == str(DATA / "slos" / "checkout.openslo.yaml")


def test_spec_example_faults() -> None:
    faults = load_experiment(SPEC_EXAMPLE_STDLIB, {"PROM_TOKEN": TOKEN}).experiment.faults
    kill, slow, broken, custom = faults
    assert isinstance(kill, PodKill)
    assert (kill.at, kill.count, kill.selector, kill.persists) == (10, 1, {"app": "shop"}, False)
    assert isinstance(slow, Latency)
    assert (slow.at, slow.duration, slow.delay, slow.jitter, slow.selector) == (20, 20, 0.2, 0.02, None)
    assert isinstance(broken, HttpError)
    assert (broken.at, broken.duration, broken.rate, broken.status) == (45, 10, Decimal("5"), 503)
    assert isinstance(custom, ChaosToolkit)
    assert custom.duration == 30 and custom.persists
    assert custom.action["provider"]["func"] == "exists"
    assert custom.rollback is not None and custom.rollback["name"] == "uncordon"


def test_spec_example_hypothesis_and_expectations() -> None:
    exp = load_experiment(SPEC_EXAMPLE_STDLIB, {"PROM_TOKEN": TOKEN}).experiment
    availability, latency = exp.hypothesis
    assert availability.judged_phases == ("baseline", "fault", "recovery")
    assert availability.max_budget_consumed == Decimal("2") and availability.max_burn_rate == 20
    assert latency.judged_phases == ("baseline", "recovery") and latency.max_budget_consumed is None
    recovers, alert, replicas = exp.expect
    assert isinstance(recovers, ExpectRecovers) and (recovers.recovers, recovers.within) == (
        "checkout-availability", 30)
    assert isinstance(alert, ExpectAlert) and (alert.alert, alert.within) == ("CheckoutHighErrorBurn", 120)
    assert isinstance(replicas, ExpectReplicasReady) and (replicas.replicas_ready, replicas.within) == (3, 20)


def test_spec_example_finds_its_profile_in_loadprofiles_above() -> None:
    loaded = load_experiment(SPEC_EXAMPLE_STDLIB, {"PROM_TOKEN": TOKEN})
    assert loaded.load.path == SPEC_PROFILE


def test_spec_load_profile_example() -> None:
    loaded = load_profile(SPEC_PROFILE, {})
    profile = loaded.profile
    assert profile.metadata.name == "steady-peak" and profile.host == "http://127.0.0.1:8080"
    assert profile.requests is not None
    catalog, checkout = profile.requests
    assert (catalog.name, catalog.method, catalog.path) == ("catalog", "GET", "/api/catalog")
    assert catalog.weight == 8
    assert (checkout.method, checkout.weight, checkout.json_body) == ("POST", 2, {"item": 42, "qty": 1})
    assert [(s.duration, s.users, s.spawn_rate) for s in profile.stages or ()] == [(20, 20, 10), (60, 50, 10)]
    assert (profile.wait.min, profile.wait.max, profile.wait.throughput) == (0.1, 0.5, None)
    assert loaded.locustfile is None


def test_profile_without_wait_gets_the_default_think_time(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", PROFILE.format(name="no-wait"))
    wait = load_profile(path, {}).profile.wait
    assert (wait.min, wait.max, wait.throughput) == (0.1, 0.5, None)


def test_profile_with_throughput_wait(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", PROFILE.format(name="paced") + "wait: {throughput: 2}\n")
    wait = load_profile(path, {}).profile.wait
    assert (wait.min, wait.max, wait.throughput) == (None, None, 2)


# -- ${ENV} substitution -------------------------------------------------------------------------------


def test_env_variable_is_substituted_from_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_TEST_TOKEN", TOKEN)
    write(tmp_path, "loadprofiles/p.yaml", PROFILE.format(name="p"))
    extra = """
    prometheus:
      url: http://127.0.0.1:9090
      headers:
        Authorization: "Bearer ${HARNESS_TEST_TOKEN}"
        X-Scope: "${HARNESS_TEST_TOKEN}-${HARNESS_TEST_TOKEN}"
    """
    path = write(tmp_path, "x.yaml", experiment("env", "p", extra))
    prometheus = load_experiment(path).experiment.prometheus
    assert prometheus is not None
    assert prometheus.headers == {"Authorization": f"Bearer {TOKEN}", "X-Scope": f"{TOKEN}-{TOKEN}"}


def test_missing_env_variable_is_an_error_naming_it(tmp_path: Path) -> None:
    write(tmp_path, "loadprofiles/p.yaml", PROFILE.format(name="p"))
    extra = """
    prometheus:
      url: http://127.0.0.1:9090
      headers: {Authorization: "Bearer ${HARNESS_TEST_TOKEN}"}
    """
    path = write(tmp_path, "x.yaml", experiment("env", "p", extra))
    assert problems_of(path, {"OTHER": TOKEN}) == [
        f"{path}:18 prometheus.headers.Authorization: environment variable HARNESS_TEST_TOKEN is not set "
        "(export HARNESS_TEST_TOKEN=... before running)"
    ]


@pytest.mark.parametrize(
    ("prometheus", "problem"),
    [
        pytest.param('{url: "${SECRET}"}',
                     "prometheus.url: expected an http:// or https:// URL, got '${SECRET}'",
                     id="whole_value"),
        pytest.param('{url: "prom?token=${SECRET}"}',
                     "prometheus.url: expected an http:// or https:// URL, got 'prom?token=${SECRET}'",
                     id="part_of_a_value"),
        pytest.param('{url: "http://127.0.0.1:9090", timeout: "${SECRET}"}',
                     "prometheus.timeout: expected a duration like 200ms, 30s or 5m, got '${SECRET}'",
                     id="other_field"),
    ],
)
def test_secret_values_never_appear_in_errors(tmp_path: Path, prometheus: str, problem: str) -> None:
    write(tmp_path, "loadprofiles/p.yaml", PROFILE.format(name="p"))
    path = write(tmp_path, "x.yaml", experiment("env", "p", f"prometheus: {prometheus}\n"))
    problems = problems_of(path, {"SECRET": "hunter2"})
    assert problems == [f"{path}:16 {problem}"]
    assert "hunter2" not in "".join(problems)


def test_secret_in_a_reference_is_not_echoed_either(tmp_path: Path) -> None:
    path = write(tmp_path, "x.yaml", experiment("env", '"${PROFILE_NAME}"'))
    problems = problems_of(path, {"PROFILE_NAME": "hunter2-profile"})
    assert problems == [
        f"{path}:6 load.profile: no load profile '${{PROFILE_NAME}}' (looked for a file of that name in "
        "loadprofiles/ beside and above the experiment, or give a path)"
    ]


# -- paths relative to the file ------------------------------------------------------------------------


def test_paths_are_relative_to_the_file_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "suite/profiles/own.yaml", """
        apiVersion: harness/v1
        kind: LoadProfile
        metadata: {name: own}
        locustfile: user.py
        stages: [{duration: 10s, users: 5, spawn_rate: 5}]
        """)
    write(tmp_path, "suite/profiles/user.py", "# a locustfile\n")
    write(tmp_path, "suite/rules/alerts.yaml", "groups: []\n")
    write(tmp_path, "suite/slos/checkout.openslo.yaml", (DATA / "slos" / "checkout.openslo.yaml").read_text())
    extra = """
    target:
      local: {alert_rules: [rules/alerts.yaml]}
    """
    text = experiment("relative", "profiles/own.yaml", extra).replace(
        "slos:\n", "slos:\n  - import: slos/checkout.openslo.yaml\n")
    path = write(tmp_path, "suite/x.yaml", text)
    monkeypatch.chdir(tmp_path / "suite" / "profiles")  # somewhere else: nothing may depend on it
    loaded = load_experiment(path, {})
    assert loaded.load.path == tmp_path / "suite" / "profiles" / "own.yaml"
    assert loaded.load.locustfile == tmp_path / "suite" / "profiles" / "user.py"
    assert loaded.alert_rules == (tmp_path / "suite" / "rules" / "alerts.yaml",)
    assert loaded.slo_sources["checkout-errors"] == str(tmp_path / "suite" / "slos" / "checkout.openslo.yaml")


# -- finding the load profile --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile_file", "reference"),
    [
        pytest.param("exp/loadprofiles/peak.yaml", "peak", id="by_name_beside"),
        pytest.param("loadprofiles/peak.yaml", "peak", id="by_name_above"),
        pytest.param("exp/loadprofiles/peak.yml", "peak", id="by_name_yml"),
        pytest.param("profiles/peak.yaml", "../profiles/peak.yaml", id="by_relative_path"),
        pytest.param("exp/peak.yaml", "peak.yaml", id="by_file_name_beside"),
    ],
)
def test_load_profile_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile_file: str, reference: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, profile_file, PROFILE.format(name="peak"))
    path = write(tmp_path, "exp/x.yaml", experiment("finds-profile", reference))
    assert load_experiment(path, {}).load.path == tmp_path / profile_file


def test_profile_beside_wins_over_profile_above(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "exp/loadprofiles/peak.yaml", PROFILE.format(name="beside"))
    write(tmp_path, "loadprofiles/peak.yaml", PROFILE.format(name="above"))
    path = write(tmp_path, "exp/x.yaml", experiment("finds-profile", "peak"))
    assert load_experiment(path, {}).load.profile.metadata.name == "beside"


@pytest.mark.parametrize("reference", ["nowhere-to-be-found", "../profiles/nowhere.yaml"])
def test_missing_load_profile_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: str
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, "exp/x.yaml", experiment("no-profile", reference))
    assert problems_of(path) == [
        f"{path}:6 load.profile: no load profile {reference!r} (looked for a file of that name in "
        "loadprofiles/ beside and above the experiment, or give a path)"
    ]


def test_problems_of_the_profile_name_the_profile_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    profile = write(tmp_path, "loadprofiles/peak.yaml", PROFILE.format(name="peak") + "wait: {min: 1s}\n")
    path = write(tmp_path, "exp/x.yaml", experiment("bad-profile", "peak"))
    assert problems_of(path) == [f"{profile}:9 wait: give both 'min' and 'max'"]
