"""Policy loading and the logging sanction (events here are hand-made)."""

from __future__ import annotations

import pytest

from detectors.policies import PolicyError, load_policy
from tests.unit.platform_kit import PlatformKit


def write(tmp_path, text):
    directory = tmp_path / "policy"
    directory.mkdir(exist_ok=True)
    (directory / "p.yaml").write_text(text)
    return directory


GOOD = """
kind: logging
sanctioned_minimal_logging:
  - name: dev
    description: d
    owner: platform
    match: {networks: [dev]}
"""


def test_the_sanction_binds_to_the_platforms_dev_network_not_its_name(tmp_path):
    kit = PlatformKit(tmp_path)
    dev = kit.network("d" * 64, "dev")
    policy = kit.policy(write(tmp_path, GOOD), shipped=False)
    genuine = {"container.logging.driver": "none", "container.network.names": ["stw-1-dev"],
               "container.network.ids": [dev]}
    assert policy.enrich(genuine)["policy.logging.sanctioned"] is True
    named_alike = {"container.logging.driver": "none", "container.network.names": ["scratch-dev"],
                   "container.network.ids": ["e" * 64]}
    assert policy.enrich(named_alike)["policy.logging.sanctioned"] is False
    also_elsewhere = {**genuine, "container.network.ids": [dev, "f" * 64]}  # dev plus a network it did not make
    assert policy.enrich(also_elsewhere)["policy.logging.sanctioned"] is False


def test_events_without_container_context_are_untouched(tmp_path):
    policy = PlatformKit(tmp_path).policy(write(tmp_path, GOOD), shipped=False)
    assert "policy.logging.sanctioned" not in policy.enrich({"event.action": "die"})


@pytest.mark.parametrize(("text", "field"), [
    ("kind: logging\nsanctioned_minimal_logging: {}\n", "sanctioned_minimal_logging"),
    ("kind: nope\n", "kind"),
    ("kind: logging\nextra: 1\n", "extra"),
    ("kind: logging\nsanctioned_minimal_logging:\n  - {name: a, description: b, owner: c}\n",
     "sanctioned_minimal_logging[0].match"),
    ("kind: logging\nsanctioned_minimal_logging:\n  - {name: a, description: b, owner: c, match: {}}\n",
     "sanctioned_minimal_logging[0].match"),
    ("kind: logging\nsanctioned_minimal_logging:\n  - {name: a, description: b, owner: c, match: {networks: dev}}\n",
     "sanctioned_minimal_logging[0].match.networks"),
    ("kind: logging\nsanctioned_minimal_logging:\n  - {name: a, description: b, owner: c, match: {networks: [x]}}\n",
     "sanctioned_minimal_logging[0].match.networks[0]"),
    ("kind: logging\nsanctioned_minimal_logging:\n  - {name: a, description: b, owner: c, match: {zone: [x]}}\n",
     "sanctioned_minimal_logging[0].match.zone"),
    ("kind: logging\nsanctioned_minimal_logging:\n  - {name: a, description: b, owner: c, match: {names: [x]}}\n",
     "sanctioned_minimal_logging[0].match.names"),
    ("kind: logging\nsanctioned_minimal_logging:\n  - {name: a, description: b, owner: c, "
     "match: {labels: {app: x}}}\n", "sanctioned_minimal_logging[0].match.labels"),
    ("kind: logging\nsanctioned_minimal_logging:\n  - {name: a, description: b, owner: c, "
     "match: {image: {signer: s}}}\n", "sanctioned_minimal_logging[0].match.image.identities"),
    ("kind: [unclosed\n", "(document)"),
    ("- just a list\n", "(document)"),
])
def test_bad_policy_names_file_and_field(tmp_path, text, field):
    with pytest.raises(PolicyError) as info:
        load_policy([write(tmp_path, text)])
    assert info.value.field == field
    assert str(tmp_path / "policy" / "p.yaml") in str(info.value)


def test_a_self_described_match_says_why_it_is_refused(tmp_path):
    text = "kind: logging\nsanctioned_minimal_logging:\n  - {name: a, description: b, owner: c, match: {names: [x]}}\n"
    with pytest.raises(PolicyError, match="an adversary can copy it"):
        load_policy([write(tmp_path, text)])


def test_duplicate_entry_names_are_refused_across_files(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(PolicyError) as info:
        load_policy([tmp_path])
    assert info.value.field == "sanctioned_minimal_logging[0].name"
    assert "b.yaml" in str(info.value) and "a.yaml" in str(info.value)
