"""harness/ads.py: one Alerting & Detection Strategy document per detector, every section present."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from sigma.collection import SigmaCollection

from detectors import analytics
from detectors.sigma import load_rule
from harness.ads import render, validation_scenarios, write_docs
from harness.detector_catalog import all_detectors
from harness.outcome import Outcome, RuleResult, RunResult, Verdict
from harness.scorecard.json_report import to_json
from scenarios.registry import load

RULE_DIR = Path(__file__).resolve().parents[2] / "detectors" / "rules"
RULE_ID = "stowaway.docker.logging-disabled"
SECTIONS = ("## Goal", "## Categorization", "## Strategy Abstract", "## Technical Context",
            "## Blind Spots and Assumptions", "## False Positives", "## Validation", "## Priority", "## Response")

DOCUMENTED = """
goal: Catch workloads that hide their output by turning logging off.
technical_context: >-
  dockerd emits a start event; the sensor joins it with inspect data, where HostConfig.LogConfig.Type
  becomes container.logging.driver.
blindspots:
  - Containers started on an engine the sensor does not watch.
  - A log driver that ships logs to an address nobody reads.
assumptions:
  - The platform team keeps the logging policy current.
"""


@pytest.fixture(scope="module")
def registry():
    return load()


def scorecard(verdict: Verdict = Verdict.DETECTED) -> dict:
    outcome = Outcome(scenario_id="docker.logging.log-driver-none", title="t", kind="adversary",
                      techniques=["T1562.001"], backend="docker", verdict=verdict, reason="r", latency_s=0.42,
                      rules=[RuleResult(rule_id=RULE_ID, fired=verdict is Verdict.DETECTED, latency_s=0.42)])
    return to_json(RunResult(run_id="run-ads", attack_version="18", backend="docker", started_at=1.0,
                             finished_at=2.0, outcomes=[outcome]))


def test_every_shipped_detector_gets_a_document_with_every_section(registry, tmp_path):
    written = write_docs(tmp_path, registry)
    detectors = all_detectors()
    assert {p.stem for p in written[:-1]} == set(detectors)
    assert written[-1].name == "README.md"
    for path in written[:-1]:
        text = path.read_text()
        positions = [text.index(section) for section in SECTIONS]
        assert positions == sorted(positions), f"{path.name}: sections out of order"
    index = written[-1].read_text()
    assert f"[{RULE_ID}]({RULE_ID}.md)" in index and "`blindspots`" in index


def test_validation_finds_the_scenarios_that_prove_the_rule(registry):
    found = validation_scenarios(RULE_ID, registry)
    assert "docker.logging.log-driver-none" in found["fires"]
    assert "docker.logging.dev-minimal-logging" in found["silent"]
    for scenario_id in found["fires"]:  # exactly those whose expectations name it, nothing else
        assert RULE_ID in registry.get(scenario_id).expect.fires
    assert not set(found["fires"]) & set(found["silent"])


def test_validation_shows_the_latest_result(registry):
    info = all_detectors()[RULE_ID]
    text = render(info, registry, scorecard())
    validation = text.split("## Validation")[1].split("## Priority")[0]
    assert "`docker.logging.log-driver-none` | adversary | fires within 15 s | **detected**, fired after 0.42 s" \
        in validation
    assert "run `run-ads`" in validation
    assert "`docker.logging.dev-minimal-logging` | benign" in validation
    assert "not in the latest run" in validation  # the benign twin is absent from this scorecard
    missed = render(info, registry, scorecard(Verdict.MISSED))
    assert "**missed**, did not fire" in missed


def test_without_a_scorecard_it_says_so(registry):
    text = render(all_detectors()[RULE_ID], registry, None)
    assert "no result yet" in text


def test_shipped_rule_falls_back_to_derived_text(registry):
    text = render(all_detectors()[RULE_ID], registry)
    assert "Impair Defenses: Disable or Modify Tools" in text and "v18" in text
    assert "policy.logging.sanctioned" in text  # the exclusion is named as a blind spot
    assert "Docker events sensor" in text
    assert "high: P2" in text
    assert "Capture what the container runs now" in text


def test_custom_attributes_are_used_and_stay_portable(registry, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULE_DIR, rules)
    path = rules / "docker_logging_disabled.yml"
    shipped = yaml.safe_load(path.read_text())
    shipped.pop("blindspots", None)  # replaced by the documented ones below
    path.write_text(yaml.safe_dump(shipped, sort_keys=False) + DOCUMENTED)
    load_rule(path)  # the local engine accepts them
    assert len(SigmaCollection.from_yaml(path.read_text()).rules) == 1  # and so does pySigma
    text = render(all_detectors([rules])[RULE_ID], registry)
    assert "Catch workloads that hide their output" in text
    assert "HostConfig.LogConfig.Type" in text
    assert "- A log driver that ships logs to an address nobody reads." in text
    assert "- The platform team keeps the logging policy current." in text
    assert "sees only what its telemetry reports" not in text  # the generic blind spot gives way


def test_analytics_get_documents_too(registry, tmp_path, monkeypatch):
    class BurstAnalytic:
        rule_id: ClassVar[str] = "stowaway.analytic.test-burst"
        title: ClassVar[str] = "Test burst"
        severity: ClassVar[str] = "medium"
        techniques: ClassVar[tuple[str, ...]] = ("T1496",)
        description: ClassVar[str] = "Counts events per object and alerts on a burst."
        response: ClassVar[str] = "Look at the object."
        data_sources: ClassVar[tuple[str, ...]] = ("cgroup",)
        blindspots: ClassVar[tuple[str, ...]] = ("Slow ramps under the threshold.",)

    monkeypatch.setattr(analytics, "FACTORIES", [*analytics.FACTORIES, BurstAnalytic])
    monkeypatch.setattr("harness.detector_catalog.FACTORIES", analytics.FACTORIES)
    written = write_docs(tmp_path, registry)
    doc = (tmp_path / "stowaway.analytic.test-burst.md").read_text()
    assert doc in [p.read_text() for p in written]
    assert "Python analytic" in doc and "Resource Hijacking" in doc and "cgroup" in doc
    assert "Slow ramps under the threshold." in doc and "medium: P3" in doc
    assert "**unvalidated**" in doc
