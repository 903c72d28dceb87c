"""The CI example a user drops into .github/workflows: valid YAML that runs, publishes and gates."""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.cli import build_parser

WORKFLOW = Path(__file__).resolve().parents[2] / "examples" / "ci" / "github-actions-purple-team.yml"


def _steps() -> list[dict]:
    data = yaml.safe_load(WORKFLOW.read_text())
    (job,) = data["jobs"].values()
    return job["steps"]


def _script() -> str:
    return "\n".join(step.get("run", "") for step in _steps())


def test_runs_the_suite_as_root_and_applies_the_gate():
    script = _script()
    assert "sudo -E env \"PATH=$PATH\" stowaway run --out reports" in script
    assert "stowaway gate --current reports/scorecard.json" in script
    assert "--baseline harness/baseline/scorecard.json" in script


def test_publishes_the_summary_and_every_format():
    assert "cat reports/scorecard.md >> \"$GITHUB_STEP_SUMMARY\"" in _script()
    upload = next(s for s in _steps() if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    for name in ("scorecard.json", "scorecard.md", "navigator-layer.json", "junit.xml", "report.html"):
        assert f"reports/{name}" in upload["with"]["path"]


def test_every_stowaway_command_in_it_parses():
    parser = build_parser()
    for line in _script().replace("\\\n", " ").splitlines():
        if "stowaway " not in line:
            continue
        words = line.split("stowaway ", 1)[1].split()
        args = [w for w in words if not w.startswith('"$GITHUB')]
        parser.parse_args([*args, *(["$GITHUB_STEP_SUMMARY"] if words[-1].startswith('"$GITHUB') else [])])
