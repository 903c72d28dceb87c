from __future__ import annotations

import pytest

from detectors.policies import PolicyError, load_policy


def write(tmp_path, text):
    (tmp_path / "p.yaml").write_text(text)
    return tmp_path


GOOD = """
kind: logging
sanctioned_minimal_logging:
  - name: dev
    description: d
    owner: platform
    match: {networks: ["*-dev"]}
"""


def test_enrichment_marks_sanctioned_context(tmp_path):
    policy = load_policy([write(tmp_path, GOOD)])
    event = {"container.logging.driver": "none", "container.network.names": ["stw-1-dev"]}
    assert policy.enrich(event)["policy.logging.sanctioned"] is True
    other = {"container.logging.driver": "none", "container.network.names": ["stw-1-lan"]}
    assert policy.enrich(other)["policy.logging.sanctioned"] is False


def test_events_without_container_context_are_untouched(tmp_path):
    policy = load_policy([write(tmp_path, GOOD)])
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
    ("kind: logging\nsanctioned_minimal_logging:\n  - {name: a, description: b, owner: c, match: {zone: [x]}}\n",
     "sanctioned_minimal_logging[0].match.zone"),
    ("kind: [unclosed\n", "(document)"),
    ("- just a list\n", "(document)"),
])
def test_bad_policy_names_file_and_field(tmp_path, text, field):
    with pytest.raises(PolicyError) as info:
        load_policy([write(tmp_path, text)])
    assert info.value.field == field
    assert str(tmp_path / "p.yaml") in str(info.value)


def test_duplicate_entry_names_are_refused_across_files(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(PolicyError) as info:
        load_policy([tmp_path])
    assert info.value.field == "sanctioned_minimal_logging[0].name"
    assert "b.yaml" in str(info.value) and "a.yaml" in str(info.value)
