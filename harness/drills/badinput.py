"""Bad-input drill: broken scenario files, rules, policy files and baselines given to the real CLI.

Each case writes its broken file(s) to a temporary directory and runs ``stowaway`` in a child
process. It passes when the exit code is 2, stderr names the file and the field, and nothing
started: no run record and no engine lease carries the child's pid (the lab writes both first thing
when a run starts). A case that *did* start would run one small scenario, never the whole suite.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.bench.report import Figure
from lab import LabPaths, RunRecord

Progress = Callable[[str], None]
ONE = "docker.logging.log-driver-none"  # a short real scenario, for cases whose broken file is a detector's

_SCENARIO = '''
from lab import Lab
from scenarios.api import Expectation, Kind, Scenario


class Broken(Scenario):
    id = "bad.case.broken"
    title = {title}
    kind = {kind}
    techniques = {techniques}
    backends = {backends}
    expect = {expect}
    description = "a drill case"

    def detonate(self, lab: Lab) -> None:
        pass
'''
_OK = {"title": '"t"', "kind": "Kind.ADVERSARY", "techniques": '("T1610",)', "backends": '("docker",)',
       "expect": 'Expectation(fires=("stowaway.docker.logging-disabled",))'}
_RULE = '''title: drill rule
name: {name}
id: {uuid}
status: experimental
description: a drill case
logsource:
  product: docker
  service: events
detection:
  selection:
    event.action: start
  condition: {condition}
level: {level}
'''


def scenario(**changes: str) -> str:
    return _SCENARIO.format(**{**_OK, **changes})


def rule(name: str = "drill.rule", uuid: str = "0b0b0b0b-0000-4000-8000-000000000001", condition: str = "selection",
         level: str = "high") -> str:
    return _RULE.format(name=name, uuid=uuid, condition=condition, level=level)


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    area: str  # scenario | rule | policy | baseline | cli
    files: dict[str, str]  # relative path -> text
    argv: tuple[str, ...]  # {dir} is the case's directory
    file: str  # what stderr must name (a path suffix)
    field: str  # what stderr must name as the field
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # the field above shadows field()


SC = "bad/case/broken.py"
SCENARIO_ARGS = ("run", "--scenarios", "{dir}", "bad.case.broken")
RULE_ARGS = ("run", "--rules", "{dir}", ONE)
POLICY_ARGS = ("run", "--policy", "{dir}", ONE)
PKG = {"bad/__init__.py": "", "bad/case/__init__.py": ""}
GATE_ARGS = ("gate", "--baseline", "{dir}/baseline.json", "--current", "{dir}/current.json")

CASES: tuple[Case, ...] = (
    Case("scenario: not valid Python", "scenario", {**PKG, SC: "class Broken(:\n"}, SCENARIO_ARGS, SC, "(module)"),
    Case("scenario: kind of the wrong type", "scenario", {**PKG, SC: scenario(kind='"evil"')}, SCENARIO_ARGS, SC,
         "kind"),
    Case("scenario: techniques a string, not a tuple", "scenario", {**PKG, SC: scenario(techniques='"T1610"')},
         SCENARIO_ARGS, SC, "techniques"),
    Case("scenario: unknown ATT&CK technique", "scenario", {**PKG, SC: scenario(techniques='("T9999",)')},
         SCENARIO_ARGS, SC, "techniques[0]"),
    Case("scenario: unknown backend", "scenario", {**PKG, SC: scenario(backends='("nomad",)')}, SCENARIO_ARGS, SC,
         "backends[0]"),
    Case("scenario: empty title", "scenario", {**PKG, SC: scenario(title='""')}, SCENARIO_ARGS, SC, "title"),
    Case("scenario: expects a rule that does not exist", "scenario",
         {**PKG, SC: scenario(expect='Expectation(fires=("stowaway.no.such-rule",))')}, SCENARIO_ARGS, SC,
         "expect.fires"),
    Case("scenario: negative deadline", "scenario",
         {**PKG, SC: scenario(expect='Expectation(fires=("stowaway.docker.logging-disabled",), within_s=-1)')},
         SCENARIO_ARGS, SC, "expect"),
    Case("scenario: adversary that expects nothing", "scenario", {**PKG, SC: scenario(expect="Expectation()")},
         SCENARIO_ARGS, SC, "expect.fires"),
    Case("scenario: duplicate id (two directories)", "scenario",
         {**PKG, SC: scenario(), **{f"two/{k}": v for k, v in {**PKG, SC: scenario()}.items()}},
         ("run", "--scenarios", "{dir}", "--scenarios", "{dir}/two", "bad.case.broken"), SC, "id"),
    Case("scenario: two Scenario classes in one file", "scenario",
         {**PKG, SC: scenario() + "\n\nclass Other(Broken):\n    pass\n"}, SCENARIO_ARGS, SC, "(module)"),
    Case("rule: not valid YAML", "rule", {"r.yml": "title: [unclosed\n"}, RULE_ARGS, "r.yml", ""),
    Case("rule: condition names a missing selection", "rule", {"r.yml": rule(condition="selection and not ghost")},
         RULE_ARGS, "r.yml", "condition"),
    # Unknown top-level fields are Sigma's custom attributes (``response`` is one): accepted by design.
    Case("rule: misspelled condition key", "rule", {"r.yml": rule().replace("  condition:", "  conditon:")},
         RULE_ARGS, "r.yml", "condition"),
    Case("rule: detection of the wrong type", "rule",
         {"r.yml": rule().replace("detection:\n  selection:\n    event.action: start\n  condition: selection\n",
                                  "detection: [selection]\n")}, RULE_ARGS, "r.yml", "detection"),
    Case("rule: unknown level", "rule", {"r.yml": rule(level="apocalyptic")}, RULE_ARGS, "r.yml", "level"),
    Case("rule: unknown modifier", "rule",
         {"r.yml": rule().replace("event.action: start", "event.action|fuzzy: start")},
         RULE_ARGS, "r.yml", "fuzzy"),
    Case("rule: duplicate name in two files", "rule",
         {"a.yml": rule(), "b.yml": rule(uuid="0b0b0b0b-0000-4000-8000-000000000002")}, RULE_ARGS, ".yml", "name"),
    Case("rule: duplicate id in two files", "rule",
         {"a.yml": rule(), "b.yml": rule(name="drill.other")}, RULE_ARGS, ".yml", "id"),
    Case("rule: missing logsource", "rule",
         {"r.yml": rule().replace("logsource:\n  product: docker\n  service: events\n", "")}, RULE_ARGS, "r.yml",
         "logsource"),
    Case("policy: not valid YAML", "policy", {"p.yaml": "kind: logging\nsanctioned_minimal_logging: [\n"},
         POLICY_ARGS, "p.yaml", "(document)"),
    Case("policy: unknown kind", "policy", {"p.yaml": "kind: firewall\n"}, POLICY_ARGS, "p.yaml", "kind"),
    Case("policy: unknown field in an entry", "policy",
         {"p.yaml": "kind: logging\nsanctioned_minimal_logging:\n  - name: x\n    description: d\n    owner: o\n"
                    "    match: {networks: ['*-dev']}\n    approved_by: nobody\n"}, POLICY_ARGS, "p.yaml",
         "approved_by"),
    Case("policy: entries a mapping, not a list", "policy",
         {"p.yaml": "kind: logging\nsanctioned_minimal_logging: {name: x}\n"}, POLICY_ARGS, "p.yaml",
         "sanctioned_minimal_logging"),
    Case("policy: entry without an owner", "policy",
         {"p.yaml": "kind: logging\nsanctioned_minimal_logging:\n  - name: x\n    description: d\n"
                    "    match: {networks: ['*-dev']}\n"}, POLICY_ARGS, "p.yaml", "owner"),
    Case("policy: network baseline pointing at a missing directory", "policy",
         {"p.yaml": "kind: network-baseline\nlearn_seconds: 10\nstored_baselines: ['./nowhere']\nmonitored: []\n"},
         POLICY_ARGS, "p.yaml", "stored_baselines"),
    Case("policy: duplicate entry names", "policy",
         {"p.yaml": "kind: logging\nsanctioned_minimal_logging:\n"
                    + "  - {name: x, description: d, owner: o, match: {networks: ['*-dev']}}\n" * 2},
         POLICY_ARGS, "p.yaml", "name"),
    Case("baseline: not JSON", "baseline", {"baseline.json": "{not json", "current.json": "@current"}, GATE_ARGS,
         "baseline.json", ""),
    Case("baseline: outcomes of the wrong type", "baseline",
         {"baseline.json": "@current:outcomes=str", "current.json": "@current"}, GATE_ARGS, "baseline.json",
         "outcomes"),
    Case("baseline: a required field missing", "baseline",
         {"baseline.json": "@current:-run_id", "current.json": "@current"}, GATE_ARGS, "baseline.json", "run_id"),
)


def _materialise(case: Case, directory: Path, current: dict[str, Any]) -> None:
    import json

    for rel, text in case.files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if text.startswith("@current"):
            doc = json.loads(json.dumps(current))
            change = text.partition(":")[2]
            if change.startswith("-"):
                doc.pop(change[1:], None)
            elif "=str" in change:
                doc[change.split("=")[0]] = "not a list"
            text = json.dumps(doc)
        path.write_text(text)


def started_by(pid: int, paths: LabPaths, since: float = 0.0) -> list[str]:
    """Run records and engine leases written by ``pid`` at or after ``since``: what a started run
    leaves first. Pids are recycled (pid_max is small on these hosts), so an old record holding the
    same pid is not this child's."""
    found = []
    for record_path in paths.runs.glob("*.json"):
        record = RunRecord.load(record_path)
        if record and record.pid == pid and record.started_at >= since:
            found.append(f"run record {record_path.name}")
    for lease in paths.leases.glob("*"):
        try:
            if int(lease.read_text().strip() or 0) == pid:
                found.append(f"lease {lease.name}")
        except (OSError, ValueError):
            continue
    return found


def judge(exit_code: int, stderr: str, file: str, field_name: str) -> list[str]:
    """What is wrong with the CLI's answer (empty: the case passed)."""
    problems = []
    if exit_code != 2:
        problems.append(f"exit {exit_code}, not 2")
    if file not in stderr:
        problems.append(f"stderr does not name the file ({file})")
    if field_name and field_name not in stderr:
        problems.append(f"stderr does not name the field ({field_name})")
    return problems


def _message(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")] or stderr.strip().splitlines()[-1:]
    return lines[0][:300] if lines else ""


def run(work: Path, progress: Progress, current_scorecard: dict[str, Any]) -> list[Figure]:
    paths = LabPaths.default()
    results: list[dict[str, Any]] = []
    for i, case in enumerate(CASES):
        directory = work / f"bad-{i:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        _materialise(case, directory, current_scorecard)
        argv = [a.replace("{dir}", str(directory)) for a in case.argv]
        launched = time.time()
        child = subprocess.Popen([sys.executable, "-m", "harness.cli", *argv], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        _, stderr = child.communicate(timeout=300)
        problems = judge(child.returncode, stderr, case.file, case.field)
        started = started_by(child.pid, paths, since=launched)
        if started:
            problems.append("started: " + ", ".join(started))
        results.append({"case": case.name, "area": case.area, "exit": child.returncode,
                        "message": _message(stderr),
                        "problems": problems})
    failed = [r for r in results if r["problems"]]
    progress(f"drills: bad input: {len(results) - len(failed)} of {len(results)} cases answered right")
    by_area: dict[str, int] = {}
    for r in results:
        by_area[r["area"]] = by_area.get(r["area"], 0) + 1
    return [Figure("bad-input.cases-wrong", f"bad-input cases ({len(results)} tried: {by_area}) without exit 2, a "
                   "message naming file and field, and nothing started", len(failed), 0, "<=", "cases",
                   detail={"tried": len(results), "cases": results})]
