"""Every way a rule file can be wrong names the file and the YAML field that is wrong."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml

from detectors.sigma import RuleSet, SigmaRuleError, load_rule

DELETE = object()

VALID: dict[str, Any] = {
    "title": "Container started without logs",
    "name": "test.docker.log-driver-none",
    "id": "5f1d3c2a-8b7e-4d6f-9a0b-1c2d3e4f5a6b",
    "status": "test",
    "level": "high",
    "tags": ["attack.defense-evasion", "attack.t1562.001"],
    "logsource": {"product": "docker", "service": "events"},
    "detection": {
        "selection": {"event.action": "start", "container.logging.driver": "none"},
        "condition": "selection",
    },
}


def with_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """VALID with dotted-path changes applied (only top-level and detection.* paths are needed)."""
    document = copy.deepcopy(VALID)
    for dotted, value in changes.items():
        target = document
        head, _, tail = dotted.partition(".")
        if tail and head in ("detection", "logsource"):
            target, dotted = document[head], tail
        if value is DELETE:
            del target[dotted]
        else:
            target[dotted] = value
    return document


def load_document(tmp_path: Path, document: Any) -> SigmaRuleError:
    path = tmp_path / "bad_rule.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(SigmaRuleError) as caught:
        load_rule(path)
    return caught.value


def assert_names(error: SigmaRuleError, path: Path, field: str, fragment: str) -> None:
    assert error.path == str(path)
    assert error.field == field
    assert str(error) == f"{path}: {field}: {error.message}"
    assert fragment.lower() in error.message.lower(), error.message


SELECTION = "detection.selection"

CASES: list[tuple[dict[str, Any], str, str]] = [
    # metadata
    ({"title": DELETE}, "title", "required"),
    ({"title": ""}, "title", "non-empty string"),
    ({"name": 42}, "name", "non-empty string"),
    ({"name": " "}, "name", "non-empty string"),
    ({"id": DELETE}, "id", "required"),
    ({"id": "not-a-uuid"}, "id", "UUID"),
    ({"level": "severe"}, "level", "one of informational"),
    ({"status": "production"}, "status", "one of stable"),
    ({"tags": "attack.t1610"}, "tags", "list"),
    ({"tags": ["attack.t1610", 7]}, "tags[1]", "string"),
    ({"tags": ["t1610"]}, "tags[0]", "namespace.name"),
    ({"falsepositives": "none"}, "falsepositives", "list"),
    ({"fields": {"a": 1}}, "fields", "list"),
    ({"description": ["a"]}, "description", "string"),
    ({"response": 3}, "response", "string"),
    # logsource
    ({"logsource": DELETE}, "logsource", "required"),
    ({"logsource": "docker"}, "logsource", "mapping"),
    ({"logsource": {"definition": "x"}}, "logsource", "at least one of product"),
    ({"logsource": {"service": "events"}}, "logsource.service", "needs logsource.product"),
    ({"logsource.product": ["docker"]}, "logsource.product", "non-empty string"),
    # detection structure
    ({"detection": DELETE}, "detection", "required"),
    ({"detection": ["selection"]}, "detection", "mapping"),
    ({"detection.condition": DELETE}, "condition", "required"),
    ({"detection": {"condition": "selection"}}, "detection", "no search identifier"),
    ({"detection.selection": ["evil", "xmrig"]}, SELECTION, "keywords not supported"),
    ({"detection.selection": {}}, SELECTION, "empty"),
    ({"detection.selection": []}, SELECTION, "empty"),
    ({"detection.selection": "start"}, SELECTION, "map of fields"),
    ({"detection.selection": [{"a": 1}, "b"]}, SELECTION, "map of fields"),
    ({"detection.timeframe": "5m"}, "detection.timeframe", "not supported"),
    # detection items
    (
        {"detection.selection": {"container.image|endswith|bogus": "x"}},
        f"{SELECTION}.container.image|endswith|bogus",
        "unknown modifier 'bogus'",
    ),
    ({"detection.selection": {"process.args|base64": "x"}}, f"{SELECTION}.process.args|base64", "not supported"),
    ({"detection.selection": {"a|contains|contains": "x"}}, f"{SELECTION}.a|contains|contains", "twice"),
    (
        {"detection.selection": {"a|contains|startswith": "x"}},
        f"{SELECTION}.a|contains|startswith",
        "cannot be combined",
    ),
    ({"detection.selection": {"a|i": "x"}}, f"{SELECTION}.a|i", "must follow 're'"),
    ({"detection.selection": {"a|re|cased": "x"}}, f"{SELECTION}.a|re|cased", "cannot be combined"),
    ({"detection.selection": {"a|cidr|expand": "%x%"}}, f"{SELECTION}.a|cidr|expand", "cannot be combined"),
    ({"detection.selection": {"a|exists": "yes please"}}, f"{SELECTION}.a|exists", "true or false"),
    ({"detection.selection": {"a|exists|all": True}}, f"{SELECTION}.a|exists|all", "cannot be combined"),
    ({"detection.selection": {"a|gt": "ten"}}, f"{SELECTION}.a|gt", "needs a number"),
    ({"detection.selection": {"a|lte": True}}, f"{SELECTION}.a|lte", "needs a number"),
    ({"detection.selection": {"a|cidr": "198.18.0.0/33"}}, f"{SELECTION}.a|cidr", "not a network"),
    ({"detection.selection": {"a|cidr": 10}}, f"{SELECTION}.a|cidr", "needs a network"),
    ({"detection.selection": {"a|re": "(unclosed"}}, f"{SELECTION}.a|re", "invalid regular expression"),
    ({"detection.selection": {"a|fieldref": "b.*"}}, f"{SELECTION}.a|fieldref", "wildcards"),
    ({"detection.selection": {"a|contains": True}}, f"{SELECTION}.a|contains", "needs a string"),
    ({"detection.selection": {"a|startswith": None}}, f"{SELECTION}.a|startswith", "needs a string"),
    ({"detection.selection": {"a": []}}, f"{SELECTION}.a", "empty list"),
    ({"detection.selection": {"a": {"nested": 1}}}, f"{SELECTION}.a", "not dict"),
    ({"detection.selection": {"|contains": "x"}}, f"{SELECTION}.|contains", "keyword"),
    ({"detection.selection": {"a|expand": "%nobody%"}}, f"{SELECTION}.a|expand", "unknown placeholder %nobody%"),
    ({"detection.selection": [{"a": 1}, {"b|nope": 2}]}, f"{SELECTION}[1].b|nope", "unknown modifier"),
    # condition
    ({"detection.condition": "selection and filter"}, "condition", "'filter' is not defined"),
    ({"detection.condition": "1 of filter*"}, "condition", "matches no search identifier"),
    ({"detection.condition": "(selection"}, "condition", "ends too early"),
    ({"detection.condition": "selection)"}, "condition", "unexpected ')'"),
    ({"detection.condition": "selection and"}, "condition", "ends too early"),
    ({"detection.condition": "and selection"}, "condition", "unexpected 'and'"),
    ({"detection.condition": "selection selection"}, "condition", "unexpected 'selection'"),
    ({"detection.condition": "selection AND selection"}, "condition", "unexpected 'AND'"),
    ({"detection.condition": "selection | count() > 5"}, "condition", "aggregations"),
    ({"detection.condition": "1 of sel?"}, "condition", "not an identifier pattern"),
    ({"detection.condition": ""}, "condition", "empty"),
    ({"detection.condition": 3}, "condition", "string"),
    ({"detection.condition": []}, "condition", "string"),
]


@pytest.mark.parametrize(("changes", "field", "fragment"), CASES, ids=[case[1] + ":" + case[2] for case in CASES])
def test_bad_rule_names_file_and_field(tmp_path: Path, changes: dict[str, Any], field: str, fragment: str) -> None:
    error = load_document(tmp_path, with_changes(changes))
    assert_names(error, tmp_path / "bad_rule.yml", field, fragment)


def test_the_valid_base_rule_loads(tmp_path: Path) -> None:
    # Guards the table above: each case must fail because of its change, not because VALID is broken.
    path = tmp_path / "good.yml"
    path.write_text(yaml.safe_dump(VALID))
    assert load_rule(path).rule_id == "test.docker.log-driver-none"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (yaml.safe_dump(VALID) + "---\n" + yaml.safe_dump(VALID), "2 YAML documents"),
        ("title: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "mapping"),
        ("", "no rule"),
        ("# only a comment\n", "no rule"),
        (yaml.safe_dump(VALID) + "title: Again\n", "duplicate key 'title'"),
        (
            yaml.safe_dump(VALID).replace(
                "    event.action: start\n", "    event.action: start\n    event.action: die\n"
            ),
            "duplicate key 'event.action'",
        ),
    ],
)
def test_bad_documents(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "doc.yml"
    path.write_text(text)
    with pytest.raises(SigmaRuleError) as caught:
        load_rule(path)
    assert_names(caught.value, path, "document", fragment)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes(b"title: caf\xe9\n")
    with pytest.raises(SigmaRuleError) as caught:
        load_rule(path)
    assert_names(caught.value, path, "document", "cannot read")


def test_missing_source_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(SigmaRuleError) as caught:
        RuleSet.load(missing)
    assert_names(caught.value, missing, "document", "no such file")


def test_ruleset_reports_the_bad_file_among_good_ones(tmp_path: Path) -> None:
    (tmp_path / "a_good.yml").write_text(yaml.safe_dump(VALID))
    bad = with_changes({"name": "test.other", "id": "6f1d3c2a-8b7e-4d6f-9a0b-1c2d3e4f5a6b", "level": "urgent"})
    (tmp_path / "b_bad.yml").write_text(yaml.safe_dump(bad))
    with pytest.raises(SigmaRuleError) as caught:
        RuleSet.load(tmp_path)
    assert_names(caught.value, tmp_path / "b_bad.yml", "level", "one of")


def test_error_survives_pickling() -> None:
    error = SigmaRuleError("rules/x.yml", "condition", "boom")
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.path, clone.field, clone.message, str(clone)) == (
        "rules/x.yml",
        "condition",
        "boom",
        "rules/x.yml: condition: boom",
    )
