"""Remove a rule, run for real, and the regression gate fails naming the lost detection."""

from __future__ import annotations

import shutil

import pytest

from tests.integration.cli_helpers import LOGGING_PAIR, LOGGING_RULE, ROOT, scorecard, stowaway

pytestmark = pytest.mark.integration


def test_removing_a_rule_fails_the_gate_and_names_the_lost_detection(tmp_path):
    baseline_out, current_out = tmp_path / "baseline-run", tmp_path / "current-run"
    baseline = tmp_path / "baseline" / "scorecard.json"

    # The baseline: both scenarios with every shipped rule, accepted on purpose with one command.
    first = stowaway("run", *LOGGING_PAIR, "--out", str(baseline_out))
    assert first.returncode == 0, first.stdout + first.stderr
    accepted = stowaway("baseline", "update", "--from", str(baseline_out / "scorecard.json"),
                        "--baseline", str(baseline))
    assert accepted.returncode == 0, accepted.stderr
    assert baseline.exists()

    # The change under review: the logging rule is gone from the rule directory.
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "detectors" / "rules", rules)
    (rules / "docker_logging_disabled.yml").unlink()
    second = stowaway("run", *LOGGING_PAIR, "--rules", str(rules), "--out", str(current_out))
    assert second.returncode == 1, second.stdout + second.stderr  # a lost detection, not bad input
    card = scorecard(current_out)
    missed = next(o for o in card["outcomes"] if o["scenario_id"] == LOGGING_PAIR[0])
    assert missed["verdict"] == "missed"
    assert LOGGING_RULE in missed["reason"] and "not among this run's detectors" in missed["reason"]

    summary = tmp_path / "summary.md"
    gate = stowaway("gate", "--current", str(current_out / "scorecard.json"), "--baseline", str(baseline),
                    "--summary", str(summary))
    assert gate.returncode == 1, gate.stdout + gate.stderr
    report = gate.stdout
    assert "Regression gate: **FAIL**" in report and "1 lost detection(s)" in report
    lost = report.split("### Lost detections (fail)")[1].split("###")[0]
    assert f"`{LOGGING_PAIR[0]}` (docker): detected in the baseline" in lost and "now missed" in lost
    assert LOGGING_RULE in lost
    assert LOGGING_PAIR[1] not in lost  # the benign twin stayed silent: not a loss
    assert summary.read_text() == report + "\n" or "FAIL" in summary.read_text()
