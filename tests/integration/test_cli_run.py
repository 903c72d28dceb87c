"""`stowaway run` for real: the logging pair on the private engine, every format, nothing left behind."""

from __future__ import annotations

import json

import pytest

from harness.scorecard import FILENAMES
from tests.integration.cli_helpers import LOGGING_PAIR, LOGGING_RULE, run_leftovers, scorecard, stowaway

pytestmark = pytest.mark.integration


def test_run_logging_pair_writes_every_format(tmp_path):
    out = tmp_path / "reports"
    result = stowaway("run", *LOGGING_PAIR, "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert {p.name for p in out.iterdir()} == set(FILENAMES.values())
    card = scorecard(out)
    verdicts = {o["scenario_id"]: o["verdict"] for o in card["outcomes"]}
    assert verdicts == {LOGGING_PAIR[0]: "detected", LOGGING_PAIR[1]: "silent"}
    adversary = next(o for o in card["outcomes"] if o["scenario_id"] == LOGGING_PAIR[0])
    assert [r["rule_id"] for r in adversary["rules"] if r["fired"]] == [LOGGING_RULE]
    assert adversary["latency_s"] is not None and adversary["visibility"] == "alerted"
    layer = json.loads((out / "navigator-layer.json").read_text())
    assert layer["versions"]["layer"] == "4.5"
    # progress went to stderr, with what it was doing
    assert "detonating" in result.stderr and "tearing down" in result.stderr
    assert f"run {card['run_id']}: PASS" in result.stdout
    assert run_leftovers(card["run_id"]) == {}
