"""The tactics of the pinned catalogue's techniques (harness/tactics.yaml) agree with the catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.tactics import tactic_map
from scenarios.attack import catalog


def test_every_catalogued_technique_has_tactics_for_the_same_attack_version() -> None:
    tactics, pinned = tactic_map(), catalog()
    assert tactics.version == pinned.version  # a version bump edits both files
    assert set(tactics.techniques) == set(pinned.techniques)
    assert all(tactics.techniques.values())


def test_the_enterprise_matrix_order_and_ids() -> None:
    tactics = tactic_map().tactics
    assert len(tactics) == 14 and tactics[0].short_name == "reconnaissance" and tactics[-1].short_name == "impact"
    assert tactic_map().tactic("defense-evasion").id == "TA0005"


@pytest.mark.parametrize("text", ["defense-evasion", "Defense Evasion", "defense evasion", "TA0005", " ta0005 "])
def test_a_tactic_is_found_by_short_name_name_or_id(text: str) -> None:
    found = tactic_map().find(text)
    assert found is not None and found.name == "Defense Evasion"
    assert tactic_map().find("defence-evasion") is None


def test_a_scenario_sits_under_the_first_tactic_of_its_first_technique() -> None:
    tactics = tactic_map()
    assert [t.short_name for t in tactics.of("T1610")] == ["execution", "defense-evasion"]  # the matrix's order
    primary = tactics.primary(["T1611", "T1610"])
    assert primary is not None and primary.short_name == "privilege-escalation"
    assert tactics.primary(["T9999"]) is None
    assert [t.short_name for t in tactics.of("T1036.999")] == ["defense-evasion"]  # its parent's, T1036
    assert tactics.of("T1562.999") == ()  # no entry, nor one for its parent
    assert [t.short_name for t in tactics.of_all(["T1496", "T1611"])] == ["privilege-escalation", "impact"]


def test_an_unknown_tactic_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tactics.yaml"
    path.write_text('attack_version: "18"\ntactics:\n  impact: {id: TA0040, name: Impact}\n'
                    "techniques:\n  T1496: [impact, mischief]\n")
    with pytest.raises(ValueError, match=r"techniques\.T1496: unknown tactic mischief"):
        tactic_map(path)
