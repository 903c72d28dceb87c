"""Every shipped rule has an id a SIEM accepts (an RFC 4122 UUID) and ATT&CK tags the lab's pinned
catalogue knows, so a scorecard's technique columns and a converted rule agree; and what `sigma check`
checks finds nothing, in the shipped rules and in the SigmaHQ-format ones of tests/fixtures/sigmahq."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import yaml
from sigma.collection import SigmaCollection
from sigma.plugins import InstalledSigmaPlugins
from sigma.validation import SigmaValidator

from detectors.engine import DEFAULT_RULE_DIR
from scenarios.attack import catalog

RULES = sorted(Path(DEFAULT_RULE_DIR).glob("*.yml"))
SIGMAHQ = Path(__file__).parents[1] / "fixtures" / "sigmahq"
# pySigma's validators that download ATT&CK or D3FEND data when they run; the technique tags are
# checked against the pinned catalogue below instead.
NEED_THE_NETWORK = {"attacktag", "d3_fendtag"}
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


def test_sigma_check_finds_no_issue():
    """What `sigma check --fail-on-issues -x attacktag -x d3_fendtag` runs: every validator pySigma has."""
    validators = InstalledSigmaPlugins.autodiscover(include_backends=False, include_pipelines=False).validators
    assert validators.keys() >= NEED_THE_NETWORK and len(validators) > 20
    rules = SigmaCollection.load_ruleset([Path(DEFAULT_RULE_DIR), SIGMAHQ])
    assert rules.errors == [] and len(rules.rules) == len(RULES) + len(list(SIGMAHQ.glob("*.yml")))
    issues = SigmaValidator([v for name, v in validators.items() if name not in NEED_THE_NETWORK]).validate_rules(
        rules.rules)
    assert [f"{issue}" for issue in issues] == []
