"""Response playbooks: the shipped ones load, every broken file is refused naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.monitoring import known_detector_ids
from harness.response.playbooks import PlaybookError, first_match, load_playbook, load_playbooks

DETECTORS = {"stowaway.a", "stowaway.b", "stowaway.c"}


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_shipped_playbooks_load_and_name_only_detectors_that_exist() -> None:
    playbooks = load_playbooks(detector_ids=known_detector_ids())
    assert {p.name for p in playbooks} >= {"contain-escape", "contain-egress", "contain-dropped-payload"}
    assert all(p.contain in ("quarantine", "pause", "none") for p in playbooks)


def test_the_lowest_priority_playbook_in_the_mode_acts(tmp_path: Path) -> None:
    write(tmp_path, "playbook: cut\ntriggers: [stowaway.a, stowaway.b]\npriority: 20\n", "cut.yaml")
    write(tmp_path, "playbook: freeze\ntriggers: [stowaway.b]\ncontain: pause\npriority: 10\n", "freeze.yaml")
    write(tmp_path, "playbook: look\ntriggers: [stowaway.c]\nmode: on-request\ncontain: none\n", "look.yaml")
    playbooks = load_playbooks([tmp_path], DETECTORS)
    assert first_match(playbooks, ["stowaway.a", "stowaway.b"]).name == "freeze"  # type: ignore[union-attr]
    assert first_match(playbooks, ["stowaway.a"]).name == "cut"  # type: ignore[union-attr]
    assert first_match(playbooks, ["stowaway.c"]) is None  # on request only
    assert first_match(playbooks, ["stowaway.c"], mode="on-request").name == "look"  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "field", "message"), [
    ("playbook: x\n", "triggers", "non-empty list"),
    ("playbook: x\non: [stowaway.a]\n", "True", "unknown key"),  # YAML 1.1 reads a bare `on` as true
    ("playbook: x\ntriggers: [stowaway.z]\n", "triggers[0]", "unknown detector 'stowaway.z'"),
    ("playbook: x\ntriggers: [stowaway.a]\nmode: always\n", "mode", "is not one of auto, on-request"),
    ("playbook: x\ntriggers: [stowaway.a]\ncontain: kill\n", "contain", "is not one of quarantine, pause, none"),
    ("playbook: x\ntriggers: [stowaway.a]\ncollect: yes please\n", "collect", "true or false"),
    ("playbook: x\ntriggers: [stowaway.a]\npriority: high\n", "priority", "whole number"),
    ("triggers: [stowaway.a]\n", "playbook", "non-empty string"),
    ("- x\n", "(file)", "must be a mapping"),
])
def test_a_broken_playbook_is_refused_naming_file_and_field(tmp_path: Path, text: str, field: str,
                                                            message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path, DETECTORS)
    assert caught.value.field == field and message in str(caught.value)
    assert str(caught.value).startswith(f"{path}: {field}: ")


def test_two_playbooks_of_one_name_and_a_missing_directory_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "playbook: x\ntriggers: [stowaway.a]\n", "one.yaml")
    write(tmp_path, "playbook: x\ntriggers: [stowaway.b]\n", "two.yaml")
    with pytest.raises(PlaybookError, match="defined already"):
        load_playbooks([tmp_path], DETECTORS)
    with pytest.raises(PlaybookError, match="not a directory"):
        load_playbooks([tmp_path / "absent"], DETECTORS)
