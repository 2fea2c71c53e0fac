"""Load → validate → resolve: an experiment file becomes a LoadedExperiment, or every problem at once."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import SpecError
from harness.spec.checks import check_experiment
from harness.spec.faults import activity_problems
from harness.spec.models import Experiment, ImportSLO, InlineSLO
from harness.spec.parsing import parse_model, read, rendered
from harness.spec.profile import LoadProfile
from harness.spec.runbook import Runbook
from harness.spec.slo_files import import_slos
from harness.spec.source import (
    Loc,
    Problem,
    env_references,
)

BUNDLED_ROOT = Path(__file__).resolve().parents[2]
"""The checkout (or installed tree) that holds the bundled `experiments/` and `loadprofiles/`."""


@dataclass(frozen=True)
class LoadedProfile:
    path: Path
    profile: LoadProfile

    @property
    def locustfile(self) -> Path | None:
        if self.profile.locustfile is None:
            return None
        return (self.path.parent / self.profile.locustfile).resolve()


@dataclass(frozen=True)
class LoadedExperiment:
    """A valid experiment with every reference resolved (SLO imports, load profile, rule files)."""

    path: Path
    experiment: Experiment
    slos: tuple[InlineSLO, ...]
    slo_sources: Mapping[str, str]
    load: LoadedProfile
    alert_rules: tuple[Path, ...] = ()
    lines: Mapping[Loc, int] = field(default_factory=dict)
    """The line of each field in the experiment file (what reports and CI annotations point at)."""
    runbooks: Mapping[str, LoadedRunbook] = field(default_factory=dict)
    """Each remediation's runbook, by the path written in the experiment."""

    @property
    def name(self) -> str:
        return self.experiment.metadata.name

    def line_of(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest parent that has one."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return None

    def check_lines(self) -> dict[str, int]:
        """Where each judged check is written: `hypothesis.<slo>` (and `.max_budget_consumed`,
        `.max_burn_rate`), `expect[<i>]`, `faults`, `metadata`."""
        found: dict[str, int | None] = {"metadata": self.line_of(("metadata",)), "faults": self.line_of(("faults",))}
        for index, hypothesis in enumerate(self.experiment.hypothesis):
            key = f"hypothesis.{hypothesis.slo}"
            found[key] = self.line_of(("hypothesis", index))
            for limit in ("max_budget_consumed", "max_burn_rate"):
                found[f"{key}.{limit}"] = self.line_of(("hypothesis", index, limit))
        for index, _ in enumerate(self.experiment.expect):
            found[f"expect[{index}]"] = self.line_of(("expect", index))
        return {key: line for key, line in found.items() if line is not None}

    def fingerprint(self) -> str:
        """What makes two runs comparable: the content of the experiment, its load profile (and
        locustfile) and its imported SLO files; a change to any of them starts a new history."""
        digest = hashlib.sha256()
        sources = {self.path, self.load.path, *(Path(p) for p in self.slo_sources.values() if p != "inline")}
        if self.load.locustfile is not None:
            sources.add(self.load.locustfile)
        for path in sorted(sources):
            digest.update(path.name.encode() + b"\0")
            digest.update(path.read_bytes() if path.is_file() else b"(missing)")
        return digest.hexdigest()[:16]

    def slo(self, name: str) -> InlineSLO:
        for slo in self.slos:
            if slo.name == name:
                return slo
        raise KeyError(name)


def load_profile(path: Path, environ: Mapping[str, str] | None = None) -> LoadedProfile:
    doc = read(path)
    kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
    if kind != "LoadProfile":
        raise SpecError([Problem(path, ("kind",), f"expected kind LoadProfile, got {kind!r}",
                                 doc.line_of(("kind",))).render()])
    loaded = LoadedProfile(path.resolve(), parse_model(doc, LoadProfile, environ))
    if loaded.locustfile is not None and not loaded.locustfile.is_file():
        loc: Loc = ("locustfile",)
        problem = Problem(path, loc, f"{loaded.locustfile} does not exist (paths are relative to this file)",
                          doc.line_of(loc))
        raise SpecError(rendered([problem], env_references(doc.data, environ)))
    return loaded


def find_profile(reference: str, experiment_path: Path) -> Path | None:
    """A profile named in `load.profile`: a path relative to the file, or a name in a loadprofiles/ folder."""
    base = experiment_path.parent
    if "/" in reference or reference.endswith((".yaml", ".yml", ".json")):
        candidate = (base / reference).resolve()
        return candidate if candidate.is_file() else None
    for folder in (base / "loadprofiles", base.parent / "loadprofiles", Path.cwd() / "loadprofiles",
                   BUNDLED_ROOT / "loadprofiles"):
        for suffix in (".yaml", ".yml", ".json"):
            candidate = folder / f"{reference}{suffix}"
            if candidate.is_file():
                return candidate.resolve()
    return None


def load_experiment(path: Path, environ: Mapping[str, str] | None = None) -> LoadedExperiment:
    """Read, validate and resolve an experiment. Raises SpecError listing every problem found."""
    doc = read(path)
    experiment = parse_model(doc, Experiment, environ)
    references = env_references(doc.data, environ)
    problems: list[str] = []
    slos: list[InlineSLO] = []
    sources: dict[str, str] = {}
    for index, entry in enumerate(experiment.slos):
        if isinstance(entry, ImportSLO):
            target = (path.parent / entry.import_).resolve()
            try:
                imported = import_slos(target, environ)
            except SpecError as err:
                where: Loc = ("slos", index, "import")
                heading = Problem(path, where, f"cannot import {entry.import_}:", doc.line_of(where))
                problems.extend(rendered([heading], references))
                problems.extend(f"  {p}" for p in err.problems)
                continue
            slos.extend(imported)
            sources.update({slo.name: str(target) for slo in imported})
        else:
            slos.append(entry)
            sources[entry.name] = "inline"
    loaded_profile: LoadedProfile | None = None
    profile_path = find_profile(experiment.load.profile, path)
    if profile_path is None:
        loc: Loc = ("load", "profile")
        missing = Problem(path, loc, f"no load profile {experiment.load.profile!r} (looked for a file of "
                          "that name in loadprofiles/ beside and above the experiment, or give a path)",
                          doc.line_of(loc))
        problems.extend(rendered([missing], references))
    else:
        try:
            loaded_profile = load_profile(profile_path, environ)
        except SpecError as err:
            problems.extend(err.problems)
    rules = tuple((path.parent / rule).resolve() for rule in experiment.target.local_or_default.alert_rules)
    checked = check_experiment(doc, experiment, tuple(slos), rules, loaded_profile)
    problems.extend(rendered(checked, references))
    runbooks: dict[str, LoadedRunbook] = {}
    for index, remediation in enumerate(experiment.remediation):
        try:
            runbooks[remediation.runbook] = load_runbook((path.parent / remediation.runbook).resolve(), environ,
                                                         platform_variables(experiment.target.platform))
        except SpecError as err:
            at: Loc = ("remediation", index, "runbook")
            heading = Problem(path, at, f"runbook {remediation.runbook}:", doc.line_of(at))
            problems.extend(rendered([heading], references))
            problems.extend(f"  {p}" for p in err.problems)
    if problems or loaded_profile is None:
        raise SpecError(problems)
    return LoadedExperiment(path.resolve(), experiment, tuple(slos), sources, loaded_profile, rules, doc.lines,
                            runbooks)


PLATFORM_VARIABLES = {
    "local": ("SUPERVISOR_URL", "EDGE_ADMIN_URL", "PROMETHEUS_URL", "ALERTMANAGER_URL"),
    "external": ("PROMETHEUS_URL",),
    "kubernetes": ("PROMETHEUS_URL",),
}
"""The variables a platform offers to the runbooks it runs, beside the environment's."""


def platform_variables(platform: str) -> tuple[str, ...]:
    return PLATFORM_VARIABLES.get(platform, ())


@dataclass(frozen=True)
class LoadedRunbook:
    path: Path
    runbook: Runbook


def load_runbook(path: Path, environ: Mapping[str, str] | None = None,
                 offered: tuple[str, ...] = ()) -> LoadedRunbook:
    """Read and validate a runbook. Variables in `offered` are filled in only when it runs (their
    values come from the platform), so here they count as set."""
    if not path.is_file():
        raise SpecError([f"{path}: no such runbook file (paths are relative to the experiment)"])
    doc = read(path)
    kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
    if kind != "Runbook":
        raise SpecError([Problem(path, ("kind",), f"expected kind Runbook, got {kind!r}",
                                 doc.line_of(("kind",))).render()])
    env = dict(os.environ if environ is None else environ)
    env.update({name: f"http://127.0.0.1:9/{name}" for name in offered if name not in env})
    runbook = parse_model(doc, Runbook, env)
    problems = [Problem(path, ("steps", index, "chaostoolkit", "activity"), message,
                        doc.line_of(("steps", index, "chaostoolkit"))).render()
                for index, step in enumerate(runbook.steps) if step.chaostoolkit is not None
                for _, message in activity_problems("activity", step.chaostoolkit.activity)]
    if problems:
        raise SpecError(problems)
    return LoadedRunbook(path, runbook)
