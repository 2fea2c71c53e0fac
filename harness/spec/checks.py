"""Checks across fields and files that a schema alone cannot express."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.spec.alerting import check_alerting
from harness.spec.faults import CLUSTER_FAULTS, HttpError, PodKill, faults_on
from harness.spec.models import (
    ExpectAlert,
    ExpectRecovers,
    ExpectReplicasReady,
    Experiment,
    InlineSLO,
)
from harness.spec.source import Document, Loc, Problem
from harness.spec.units import format_duration

if TYPE_CHECKING:
    from harness.spec.loader import LoadedProfile



def check_experiment(
    doc: Document,
    experiment: Experiment,
    slos: Sequence[InlineSLO],
    alert_rules: Sequence[Path],
    profile: LoadedProfile | None,
) -> list[Problem]:
    def problem(loc: Loc, message: str) -> Problem:
        return Problem(doc.path, loc, message, doc.line_of(loc))

    found: list[Problem] = []
    for loc, message in (*_check_names(experiment, slos), *_check_references(experiment, slos),
                         *_check_platform(experiment, alert_rules), *_check_faults(experiment),
                         *_check_load(experiment, profile), *_check_guard(experiment),
                         *_check_client_slis(experiment, slos, profile),
                         *check_alerting(experiment, slos, alert_rules)):
        found.append(problem(loc, message))
    return found


Finding = tuple[Loc, str]


def _check_names(experiment: Experiment, slos: Sequence[InlineSLO]) -> Iterator[Finding]:
    for name, times in Counter(slo.name for slo in slos).items():
        if times > 1:
            yield ("slos",), f"SLO name {name!r} is defined {times} times (inline or imported): names must be unique"
    fault_names = Counter(fault.name for fault in experiment.faults)
    for index, fault in enumerate(experiment.faults):
        if fault_names[fault.name] > 1:
            yield ("faults", index, "name"), f"fault name {fault.name!r} is used more than once"
    hypothesis_slos = Counter(h.slo for h in experiment.hypothesis)
    for index, hypothesis in enumerate(experiment.hypothesis):
        if hypothesis_slos[hypothesis.slo] > 1:
            yield ("hypothesis", index, "slo"), f"SLO {hypothesis.slo!r} appears twice in the hypothesis: merge them"


def _check_references(experiment: Experiment, slos: Sequence[InlineSLO]) -> Iterator[Finding]:
    known = {slo.name for slo in slos}
    hint = f"known SLOs: {', '.join(sorted(known)) or 'none'}"
    for index, hypothesis in enumerate(experiment.hypothesis):
        if hypothesis.slo not in known:
            yield ("hypothesis", index, "slo"), f"no SLO named {hypothesis.slo!r} ({hint})"
        for phase in hypothesis.judged_phases:
            if experiment.phases.length(phase) <= 0:
                yield ("hypothesis", index, "phases"), f"phase {phase!r} is 0s long and cannot be judged"
    if experiment.abort and experiment.abort.slo and experiment.abort.slo not in known:
        yield ("abort", "slo"), f"no SLO named {experiment.abort.slo!r} ({hint})"
    for index, expectation in enumerate(experiment.expect):
        if isinstance(expectation, ExpectRecovers) and expectation.recovers not in known:
            yield ("expect", index, "recovers"), f"no SLO named {expectation.recovers!r} ({hint})"


def _check_guard(experiment: Experiment) -> Iterator[Finding]:
    guard = experiment.evidence.guard
    judged = dict.fromkeys(phase for h in experiment.hypothesis for phase in h.judged_phases)
    for phase in judged:
        length = experiment.phases.length(phase)
        if guard > 0 and 0 < length <= 2 * guard:
            yield (("evidence", "guard"), f"a guard of {format_duration(guard)} on each side leaves nothing of the "
                   f"{format_duration(length)} {phase} phase to judge: use less than {format_duration(length / 2)}")


def _check_platform(experiment: Experiment, alert_rules: Sequence[Path]) -> Iterator[Finding]:
    platform = experiment.target.platform
    if platform != "local" and experiment.prometheus is None:
        yield ("prometheus",), f"platform {platform!r} needs 'prometheus.url' (only 'local' runs its own)"
    if platform == "local":
        for index, hypothesis in enumerate(experiment.hypothesis):
            if hypothesis.min_budget_remaining is not None:
                yield (("hypothesis", index, "min_budget_remaining"),
                       "the local platform's Prometheus starts empty, so there is no budget history to gate on: "
                       "use it with platform external (your Prometheus)")
        replicas = experiment.target.local_or_default.replicas
        for index, rule in enumerate(alert_rules):
            if not rule.is_file():
                yield ("target", "local", "alert_rules", index), f"rules file {rule} not found"
        for index, expectation in enumerate(experiment.expect):
            if isinstance(expectation, ExpectReplicasReady) and expectation.replicas_ready > replicas:
                yield (("expect", index, "replicas_ready"),
                       f"expects {expectation.replicas_ready} ready replicas but the target has {replicas}")
            # With a `prometheus` block the user names where their alerting rules live (the spec's
            # own example does this), so only a file with neither is certainly wrong.
            if isinstance(expectation, ExpectAlert) and not alert_rules and experiment.prometheus is None \
                    and experiment.alerting is None:
                yield (("expect", index, "alert"), "the local Prometheus has no alerting rules: "
                       "add an `alerting` block to generate them, or name your rules file in target.local.alert_rules")
    for index, expectation in enumerate(experiment.expect):
        if isinstance(expectation, ExpectReplicasReady) and platform == "external":
            yield ("expect", index), "replicas_ready needs platform local or kubernetes"
    for index, fault in enumerate(experiment.faults):
        if fault.type not in faults_on(platform):
            allowed = ", ".join(sorted(faults_on(platform)))
            yield ("faults", index, "type"), f"{fault.type!r} faults need another platform; {platform!r} has: {allowed}"
    yield from _check_kubernetes_faults(experiment)


def _check_kubernetes_faults(experiment: Experiment) -> Iterator[Finding]:
    kubernetes = experiment.target.platform == "kubernetes"
    workload = experiment.target.kubernetes.workload if experiment.target.kubernetes else None
    for index, fault in enumerate(experiment.faults):
        if isinstance(fault, PodKill) and not kubernetes:
            if fault.mode != "delete":
                yield ("faults", index, "mode"), "mode: evict (the Eviction API) needs platform kubernetes"
            if fault.grace_period is not None:
                yield ("faults", index, "grace_period"), "a grace period needs platform kubernetes"
        if not kubernetes or fault.type not in CLUSTER_FAULTS:
            continue
        if fault.selector is None and workload is None:
            yield (("faults", index, "selector"), "on kubernetes a fault never aims at the whole namespace: give it a "
                   "selector, or name the target workload in target.kubernetes.workload (deployment/NAME)")
        if isinstance(fault, HttpError) and fault.rate != 100:
            yield (("faults", index, "rate"), "a Chaos Mesh HTTPChaos answers every request of the pods it selects: "
                   "on kubernetes give rate: 100% (and a selector or count of pods for a partial outage)")


def _check_faults(experiment: Experiment) -> Iterator[Finding]:
    phase = experiment.phases.fault
    if experiment.faults and phase <= 0:
        yield ("phases", "fault"), "faults are scheduled but the fault phase is 0s long"
    for index, fault in enumerate(experiment.faults):
        end = fault.at + fault.length
        if fault.at >= phase > 0 or end > phase:
            yield (("faults", index, "at"),
                   f"runs from {format_duration(fault.at)} to {format_duration(end)} of the fault phase, which "
                   f"lasts {format_duration(phase)}: move it earlier, shorten it or lengthen phases.fault")
        if experiment.target.platform == "kubernetes" and fault.type in CLUSTER_FAULTS:
            continue  # it runs in the cluster (Chaos Mesh, the API server), not on this machine
        for loc, message in fault.environment_problems():
            yield ("faults", index, *loc), message


def _check_load(experiment: Experiment, profile: LoadedProfile | None) -> Iterator[Finding]:
    if profile is None:
        return
    host = experiment.load.host or profile.profile.host
    if experiment.target.platform != "local" and host is None:
        yield ("load", "host"), "no host to load: set load.host here or host in the load profile"
    yield from _check_workers(experiment, profile)
    locustfile = profile.locustfile
    if locustfile is not None and not locustfile.is_file():
        yield ("load", "profile"), f"the load profile's locustfile {locustfile} does not exist"


def _check_workers(experiment: Experiment, profile: LoadedProfile) -> Iterator[Finding]:
    ref = experiment.load
    if ref.workers is None and not ref.remote_workers:
        return
    if profile.profile.arrival is not None:
        yield ("load", "workers"), ("the load profile is an arrival load (an open model), which runs in one Locust "
                                    "process: leave workers out (distributed arrivals are not supported yet)")
        return
    workers = ref.remote_workers + (ref.workers if isinstance(ref.workers, int) else 1)
    most_users = max((s.users for s in profile.profile.stages or ()), default=0)
    if isinstance(ref.workers, int) and workers > most_users:
        yield ("load", "workers"), (f"{workers} workers for a profile that runs at most {most_users} users: "
                                    f"{workers - most_users} of them would send nothing; use at most "
                                    f"{max(1, most_users)} workers")


def _check_client_slis(experiment: Experiment, slos: Sequence[InlineSLO],
                       profile: LoadedProfile | None) -> Iterator[Finding]:
    """A client SLI is counted from this run's load record only: it has no history and no series."""
    client = {slo.name: slo for slo in slos if slo.sli.client is not None}
    for index, hypothesis in enumerate(experiment.hypothesis):
        if hypothesis.slo in client and hypothesis.min_budget_remaining is not None:
            yield (("hypothesis", index, "min_budget_remaining"),
                   f"SLO {hypothesis.slo!r} is a client SLI, counted from this run's own requests: it has no budget "
                   "history to gate on; gate on a Prometheus SLI of the same service instead")
    for index, expectation in enumerate(experiment.expect):
        if isinstance(expectation, ExpectRecovers) and expectation.recovers in client:
            yield (("expect", index, "recovers"),
                   f"SLO {expectation.recovers!r} is a client SLI: recovery times are measured from Prometheus "
                   "series; expect the recovery of a ratio or latency SLI instead")
    names = [r.name for r in profile.profile.requests or ()] if profile is not None else []
    if not names:
        return  # a user locustfile names its requests itself: checked against the record at judging time
    inline = {entry.name: index for index, entry in enumerate(experiment.slos) if isinstance(entry, InlineSLO)}
    for slo in slos:
        wanted = slo.sli.client.requests if slo.sli.client is not None else None
        loc: Loc = ("slos", inline[slo.name], "sli", "client", "requests") if slo.name in inline else ("slos",)
        for name in wanted or ():
            if name not in names:
                yield (loc,
                       f"SLO {slo.name!r}: the load profile has no request named {name!r} (its requests: "
                       f"{', '.join(names)})")
