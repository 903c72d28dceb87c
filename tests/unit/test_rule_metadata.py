"""Every shipped rule has an id a SIEM accepts (an RFC 4122 UUID) and ATT&CK tags the lab's pinned
catalogue knows, so a scorecard's technique columns and a converted rule agree."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import yaml

from detectors.engine import DEFAULT_RULE_DIR
from scenarios.attack import catalog

RULES = sorted(Path(DEFAULT_RULE_DIR).glob("*.yml"))
_TECHNIQUE_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$")


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.stem)
def test_the_id_is_an_rfc_4122_uuid(path: Path):
    rule_id = str(yaml.safe_load(path.read_text())["id"])
    parsed = uuid.UUID(rule_id)
    assert str(parsed) == rule_id.lower() and parsed.variant == uuid.RFC_4122, rule_id


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.stem)
def test_technique_tags_are_in_the_pinned_catalogue(path: Path):
    known = {t.upper() for t in catalog().techniques}
    tags = yaml.safe_load(path.read_text()).get("tags") or []
    techniques = [m.group(1).upper() for tag in tags if (m := _TECHNIQUE_TAG.match(tag))]
    assert techniques, "a rule names at least one technique"
    assert not [t for t in techniques if t not in known], f"not in scenarios/attack.yaml: {techniques}"
