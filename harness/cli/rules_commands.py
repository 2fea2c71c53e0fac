"""`harness rules`: burn-rate rules and their promtool tests for the SLOs of experiments or SLO files."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.api import find_files, load_experiment
from harness.errors import SpecError
from harness.judge.verdict import EXIT_CODES
from harness.rules.files import RuleSet, check, rule_set, write
from harness.rules.windows import WindowsMode
from harness.spec.slo_files import import_slos
from harness.spec.source import DocumentError, read_all_documents

_SLO_APIS = ("openslo/", "prometheus/v1", "sloth.slok.dev/")


def rule_sets(paths: list[Path], mode: WindowsMode) -> list[RuleSet]:
    """One rule set per experiment or SLO file; SpecError with every problem, before anything is written."""
    files, problems = find_files(paths)
    found: list[RuleSet] = []
    for path in files:
        try:
            one = _rule_set(path, mode)
        except SpecError as err:
            problems.extend(err.problems)
            continue
        if one is not None:
            problems.extend(f"{path}: {p}" for p in one.problems)
            found.append(one)
    if not found and not problems:
        problems.append(f"{', '.join(map(str, paths))}: no experiment or SLO file found")
    if problems:
        raise SpecError(problems)
    return found


def _rule_set(path: Path, mode: WindowsMode) -> RuleSet | None:
    try:
        docs = read_all_documents(path)
    except DocumentError as err:
        raise SpecError([err.problem.render()]) from None
    first = docs[0].data if docs else None
    if isinstance(first, list) and first:
        first = first[0]
    data = first if isinstance(first, dict) else {}
    api = str(data.get("apiVersion", data.get("version", "")))
    if data.get("kind") == "Experiment":
        loaded = load_experiment(path)
        alerting = loaded.experiment.alerting
        only = None if alerting is None else alerting.slos or tuple(h.slo for h in loaded.experiment.hypothesis)
        return rule_set(str(path), loaded.name, loaded.slos, mode, only)
    if api.startswith(_SLO_APIS):
        return rule_set(str(path), path.stem.split(".")[0], import_slos(path), mode)
    return None  # load profiles, runbooks and other files beside the experiments have no SLOs


def rules(paths: list[Path], mode: WindowsMode, output: Path, run_promtool: bool) -> int:
    sets = rule_sets(paths, mode)
    failed = False
    for one in sets:
        written = write(one, output)
        print(f"wrote {written.rule_path} and {written.test_path} ({len(one.rules)} SLO(s), {mode} windows)")
        for note in written.notes:
            print(f"  note: {note}")
        if not run_promtool:
            continue
        for outcome in check(written):
            print(f"  {'ok    ' if outcome.ok else 'FAILED'} {outcome.command}")
            if not outcome.ok:
                failed = True
                print("    " + outcome.output.replace("\n", "\n    "), file=sys.stderr)
    if failed:  # generated rules that promtool refuses are the harness's fault, not the user's
        print("promtool refused generated rules: please report this with the files above", file=sys.stderr)
        return EXIT_CODES["ERROR"]
    return 0
