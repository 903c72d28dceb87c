"""Every sanction in the shipped policy has an adversary that forges it and must still be caught.

A sanction is a policy entry that makes something benign (each policy kind names those lists in
``sanction_lists``; a reviewed network baseline file is one too). An adversary scenario that copies
what the sanctioned twin shows, without the provenance the sanction binds to, names the entry in its
``forges``. A new sanction without such an adversary fails here, and so does a ``forges`` that
names no sanction (a renamed or removed entry).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from detectors.policies import DEFAULT_POLICY_DIR, load_policy, policy_kinds
from scenarios.api import Kind
from scenarios.registry import load


def shipped_sanctions(directory: Path = DEFAULT_POLICY_DIR) -> dict[str, Path]:
    """"<kind>/<list>/<entry name>" -> the file that holds it."""
    found: dict[str, Path] = {}
    for path in sorted(directory.glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        kind = body["kind"]
        for list_name in getattr(policy_kinds()[kind], "sanction_lists", ()):
            if list_name in ("stored_baselines", "seasonal_history"):
                for folder in body.get(list_name, []):
                    for baseline in sorted((path.parent / folder).glob("*.json")):
                        found[f"{kind}/{list_name}/{baseline.stem}"] = baseline
                continue
            for entry in body.get(list_name, []):
                found[f"{kind}/{list_name}/{entry['name']}"] = path
    return found


def forged() -> dict[str, list[str]]:
    by_sanction: dict[str, list[str]] = {}
    for scenario in load().all():
        for ref in scenario.forges:
            by_sanction.setdefault(ref, []).append(scenario.id)
    return by_sanction


def test_the_shipped_policy_has_sanctions_to_check() -> None:
    load_policy()  # the files are valid policy in the first place
    assert len(shipped_sanctions()) >= 10


@pytest.mark.parametrize("sanction", sorted(shipped_sanctions()))
def test_every_sanction_has_a_forging_adversary(sanction: str) -> None:
    scenarios = forged().get(sanction, [])
    assert scenarios, (f"{sanction} ({shipped_sanctions()[sanction]}) has no adversary scenario that forges it: "
                       "add one that copies what its twin shows, without the provenance, and must be detected")
    registry = {s.id: s for s in load().all()}
    for scenario_id in scenarios:
        assert registry[scenario_id].kind is Kind.ADVERSARY, f"{scenario_id} forges {sanction} but is not an adversary"
        assert registry[scenario_id].expect.fires, f"{scenario_id} forges {sanction} but expects nothing to fire"
        twin = registry[scenario_id].twin
        if twin is not None:
            # What the twin's sanction keeps quiet is what the forgery must still raise.
            assert set(registry[scenario_id].expect.fires) & set(registry[twin].expect.silent), scenario_id


def test_every_forged_reference_names_a_shipped_sanction() -> None:
    known = shipped_sanctions()
    stale = {ref: ids for ref, ids in forged().items() if ref not in known}
    assert not stale, f"forges names no sanction in {DEFAULT_POLICY_DIR}: {stale}"


def test_a_new_sanction_without_an_adversary_is_caught(tmp_path: Path) -> None:
    (tmp_path / "logging.yaml").write_text(
        "kind: logging\nsanctioned_minimal_logging:\n"
        "  - {name: quiet-batch, owner: o, description: d, match: {networks: [lan]}}\n")
    assert "logging/sanctioned_minimal_logging/quiet-batch" in shipped_sanctions(tmp_path)
    assert "logging/sanctioned_minimal_logging/quiet-batch" not in forged()
