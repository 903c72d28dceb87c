"""Parity: the rules, converted by pySigma through the stowaway pipeline to SQL and run by SQLite over
recorded runs, give what the built-in evaluator gives.

Rules: every shipped rule, and the SigmaHQ-format rules of tests/fixtures/sigmahq (they exercise the
pipeline's renames: Image, ParentImage, CommandLine, DestinationPort, TargetFilename). Analytics are
Python and out of scope. Events: the real recorded runs of tests/fixtures/recorded (docker, swarm) and
tests/fixtures/kubernetes (kind's audit log), each replayed through the detection engine, which
enriches them with the policy (``policy.*``), as a SIEM's ingest would have to; SQLite gets the
enriched events. Compared: the engine's alerts as (rule, object) pairs, and per event the rules the
engine's RuleSet matches, on the recorded events and on decoys of them (``decoys``), which catch a
pipeline that selects the wrong events where the recordings alone would not show it.

The table is what pySigma's SQLite backend expects (its sources: sigma/backends/sqlite/): one table
``logs``, one column per field named as the dotted field (the backend quotes it with backticks), no
declared type so each value keeps the type it was recorded with, ``COLLATE NOCASE`` because Sigma's
equality ignores case and the backend leaves that to the table (as Zircolite's tables do), booleans
stored as ``'true'``/``'false'`` (the backend accepts those or 1/0), and a ``REGEXP`` function, which
SQLite leaves to the application. A list is multi-valued, as in a SIEM: one row per element of each
list a rule tests, and a rule matches an event if it matches any of its rows. That equals the engine's
"any element" reading when no rule tests a list field under ``not`` or in two ANDed places, which
``test_list_fields_are_tested_where_rows_are_exact`` checks.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionItem, ConditionNOT
from sigma.rule import SigmaRule

from detectors.engine import DEFAULT_RULE_DIR, load_rules
from detectors.event import object_ref
from detectors.policies import load_policy
from detectors.sigma import RuleSet
from detectors.sigma.loader import rule_files
from detectors.sigma.pipelines.stowaway import stowaway_pipeline
from tests.unit.recorded import RECORDED, load_fixture, policy_for, replay

FIXTURES = Path(__file__).parents[1] / "fixtures"
SIGMAHQ_RULES = FIXTURES / "sigmahq"
RULE_DIRS = [DEFAULT_RULE_DIR, SIGMAHQ_RULES]
RUNS = [f"recorded/{path.stem}" for path in sorted(RECORDED.glob("*.json"))] + [
    f"kubernetes/{path.name.removesuffix('.events.json')}"
    for path in sorted((FIXTURES / "kubernetes").glob("*.events.json"))
]
# Rules pySigma's SQLite backend cannot express, each with the reason. Every other rule must convert,
# and these must not (a rule that starts converting leaves this list). Empty today: all 38 shipped
# rules and the SigmaHQ-format ones convert (no aggregation, no keyword search, no modifier it refuses).
NOT_EXPRESSIBLE: dict[str, str] = {}
# Rules that alert on none of the runs, each with the reason: their parity is proven on no data.
NEVER_ALERT: dict[str, str] = {
    "stowaway.k8s.node-agent-silent": "raised on the harness's own reader of the node agents when one stops "
                                      "talking; the recorded runs are Docker runs (a kind run is not recorded)",
}

Pair = tuple[str, str]


def rule_id(rule: SigmaRule) -> str:
    """The id alerts carry: the rule's ``name``, else its ``id`` (detectors.sigma.rule)."""
    return str(getattr(rule, "name", None) or rule.id)


@pytest.fixture(scope="module")
def converted() -> dict[str, tuple[SigmaRule, list[str]]]:
    """rule id -> (the rule as the pipeline left it, its SQL queries); failures are kept as their message."""
    backend = sqliteBackend(processing_pipeline=stowaway_pipeline())
    queries: dict[str, tuple[SigmaRule, list[str]]] = {}
    for path in rule_files(RULE_DIRS):
        (rule,) = SigmaCollection.from_yaml(path.read_text(encoding="utf-8")).rules
        try:
            queries[rule_id(rule)] = (rule, list(backend.convert_rule(rule)))
        except Exception as error:  # any refusal is a finding: NOT_EXPRESSIBLE must name it
            queries[rule_id(rule)] = (rule, [f"-- not converted: {type(error).__name__}: {error}"])
    return queries


def leaves(item: ConditionItem | Any, negated: bool = False) -> Iterator[tuple[str, bool]]:
    """(field, under a NOT) for every field test of a parsed condition."""
    if isinstance(item, ConditionFieldEqualsValueExpression):
        yield item.field, negated
    for arg in getattr(item, "args", ()):
        yield from leaves(arg, negated != isinstance(item, ConditionNOT))


def anded_twice(item: ConditionItem | Any, field: str) -> bool:
    """True if an AND of the condition has two operands that both test ``field``."""
    if isinstance(item, ConditionAND) and sum(any(f == field for f, _ in leaves(arg)) for arg in item.args) > 1:
        return True
    return any(anded_twice(arg, field) for arg in getattr(item, "args", ()))


def parsed(rule: SigmaRule) -> list[ConditionItem]:
    return [condition.parsed for condition in rule.detection.parsed_condition]


def fields_tested_by(rules: dict[str, tuple[SigmaRule, list[str]]]) -> set[str]:
    return {field for rule, _ in rules.values() for tree in parsed(rule) for field, _ in leaves(tree)}


# --- the two evaluations -----------------------------------------------------------------------------


def enriched_run(run: str, directory: Path) -> tuple[list[dict[str, Any]], set[Pair]]:
    """The run's events as the rules saw them, and the engine's (rule, object) pairs on them."""
    kind, name = run.split("/", 1)
    if kind == "recorded":
        fixture = load_fixture(name)
        policy = policy_for(fixture, directory)
    else:
        fixture = {"events": json.loads((FIXTURES / kind / f"{name}.events.json").read_text())}
        policy = load_policy()
    events: list[dict[str, Any]] = []
    alerts = replay(copy.deepcopy(fixture), policy, analytics=False, rule_dirs=RULE_DIRS, enriched=events)
    return events, {(alert.rule_id, alert.object) for alert in alerts}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[dict[str, Any]], set[Pair]]]:
    return {run: enriched_run(run, tmp_path_factory.mktemp("policy")) for run in RUNS}


def multi_valued(events: list[dict[str, Any]]) -> set[str]:
    return {key for event in events for key, value in event.items() if isinstance(value, list)}


def _sql_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return value


def _regexp(pattern: str, value: Any) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


def load_table(events: list[dict[str, Any]], fields: set[str]) -> sqlite3.Connection:
    """``logs``: the events as pySigma's SQLite backend reads them (module docstring), ``_event`` the
    event's index, one row per combination of the elements of its lists that a rule tests."""
    columns: dict[str, str] = {}
    for name in itertools.chain(sorted(fields), *events):
        if columns.setdefault(name.lower(), name) != name:
            raise AssertionError(f"fields {name!r} and {columns[name.lower()]!r} differ only in case: one SQL column")
    database = sqlite3.connect(":memory:")
    database.create_function("REGEXP", 2, _regexp, deterministic=True)
    names = ["_event", *columns.values()]
    database.execute("CREATE TABLE logs (" + ", ".join(f"`{n}` COLLATE NOCASE" for n in names) + ")")
    insert = f"INSERT INTO logs ({', '.join(f'`{n}`' for n in names)}) VALUES ({', '.join('?' * len(names))})"
    for index, event in enumerate(events):
        lists = [(name, event[name] or [None]) for name in sorted(fields) if isinstance(event.get(name), list)]
        for elements in itertools.product(*(values for _, values in lists)):
            row = {name: _sql_value(value) for name, value in event.items()}
            row.update((name, _sql_value(element)) for (name, _), element in zip(lists, elements, strict=True))
            database.execute(insert, [index, *(row.get(name) for name in names[1:])])
    return database


def sql_matches(database: sqlite3.Connection, rules: dict[str, tuple[SigmaRule, list[str]]]) -> set[tuple[str, int]]:
    """(rule id, event index) for every row each rule's queries return."""
    found = set()
    for name, (_, queries) in rules.items():
        if name in NOT_EXPRESSIBLE:
            continue
        for query in queries:
            cursor = database.execute(query)
            at = [column[0] for column in cursor.description].index("_event")
            found |= {(name, row[at]) for row in cursor}
    return found


# --- the tests ---------------------------------------------------------------------------------------


def test_every_rule_converts_except_the_listed_ones(converted):
    failed = {name: queries[0] for name, (_, queries) in converted.items() if queries[0].startswith("-- not")}
    assert failed.keys() == NOT_EXPRESSIBLE.keys(), failed
    assert len(converted) == len(rule_files(RULE_DIRS)), "one rule id per file"


def test_list_fields_are_tested_where_rows_are_exact(converted, runs):
    """A rule may test a multi-valued field only where "some row matches" means what the engine
    means: not under a NOT, and in one operand of any AND (module docstring)."""
    multi = set().union(*(multi_valued(events) for events, _ in runs.values()))
    wrong = {}
    for name, (rule, _) in converted.items():
        for tree in parsed(rule):
            for field in {f for f, _ in leaves(tree)} & multi:
                if any(f == field and negated for f, negated in leaves(tree)) or anded_twice(tree, field):
                    wrong[name] = field
    assert wrong == {}


def decoys(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event again with one of the fields a logsource selects on changed: no rule may take them
    for the real thing, in either evaluator. Without them a pipeline that forgot, say, ``event.action``
    for a SigmaHQ category could pass, the recorded runs holding no other action of that object."""
    return [{**event, field: f"{event[field]}.decoy"} for event in events for field in SELECTORS
            if isinstance(event.get(field), str)]


SELECTORS = ("event.module", "event.dataset", "event.action", "event.category")


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules(RULE_DIRS)


@pytest.mark.parametrize("run", RUNS)
def test_sql_backend_matches_like_the_engine(run, converted, runs, ruleset):
    recorded, engine_alerts = runs[run]
    events = recorded + decoys(recorded)
    with contextlib.closing(load_table(events, fields_tested_by(converted))) as database:
        rows = sql_matches(database, converted)
    alerts = {(name, ref) for name, ref in engine_alerts if name not in NOT_EXPRESSIBLE}
    sql = {(name, object_ref(recorded[index]) or "unknown") for name, index in rows if index < len(recorded)}
    matched = {(rule.rule_id, index) for index, event in enumerate(events) for rule in ruleset.match(event)
               if rule.rule_id not in NOT_EXPRESSIBLE}

    def shown(pairs: set[tuple[str, int]]) -> list[str]:
        return [f"{name} on {events[index]['event.id']} (" + ", ".join(f"{f}={events[index].get(f)}" for f in SELECTORS)
                + ")" for name, index in sorted(pairs)]

    mismatches = []
    if sql != alerts:
        mismatches.append(f"alerts, (rule, object):\n  only the engine: {sorted(alerts - sql)}\n"
                          f"  only SQLite: {sorted(sql - alerts)}\n  engine: {sorted(alerts)}\n  SQLite: {sorted(sql)}")
    if rows != matched:
        mismatches.append(f"events, (rule, event):\n  only the engine: {shown(matched - rows)}\n"
                          f"  only SQLite: {shown(rows - matched)}")
    if mismatches:
        differing = sorted({name for name, _ in sql ^ alerts} | {name for name, _ in rows ^ matched})
        queries = "\n".join(f"{name}:\n  " + "\n  ".join(converted[name][1]) for name in differing)
        pytest.fail(f"{run}: the converted rules disagree with the engine\n" + "\n".join(mismatches) + f"\n{queries}")


def test_every_rule_alerts_on_some_run_except_the_listed_ones(converted, runs):
    """Parity on a rule that never fires is proven on nothing; the SigmaHQ-format ones included."""
    raised = {name for _, alerts in runs.values() for name, _ in alerts}
    assert set(converted) - raised == NEVER_ALERT.keys()
