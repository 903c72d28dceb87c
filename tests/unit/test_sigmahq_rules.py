"""Rules in SigmaHQ's own format (tests/fixtures/sigmahq, written by us as SigmaHQ writes them: a UUID
``id``, no ``name``, SigmaHQ's logsources and field names) load as they are, read Stowaway's events
through the table of detectors/sigma/logsources.py, and ``stowaway run --rules DIR`` takes a folder
of them. That they alert like their pySigma conversions do is tests/unit/test_sigma_parity.py."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from detectors.engine import DEFAULT_RULE_DIR, DetectionEngine, load_rules
from detectors.event import new_event
from detectors.policies import load_policy
from detectors.sigma import RuleSet, SigmaRuleError, load_rule
from detectors.sigma.loader import read_rule_document
from detectors.sigma.logsources import SOURCES, LogSource

FIXTURES = Path(__file__).parents[1] / "fixtures"
SIGMAHQ = FIXTURES / "sigmahq"
TMP_EXEC = "e3e71210-c6b0-4ef4-87ab-b7f71fd4256d"  # proc_creation_lnx_exec_from_tmp.yml
NETCAT = "d352dc71-7ce3-4957-9976-7554dcc39a0c"  # net_connection_lnx_netcat_uncommon_port.yml
CRON = "0c6b0256-bcab-4cb6-9e94-66d8c4fad1ad"  # file_event_lnx_cron_file_written.yml
HOST_PATH = "9c30b318-f07e-430a-9a64-6a5efad9264c"  # kubernetes_audit_pod_sensitive_host_path.yml
SCENARIO = "docker.logging.log-driver-none"


def sigmahq_rule(tmp_path: Path, logsource: dict[str, str], selection: dict[str, Any]) -> Path:
    path = tmp_path / "rule.yml"
    path.write_text(yaml.safe_dump({
        "title": "A SigmaHQ-format rule", "id": str(uuid.uuid4()), "status": "test", "level": "low",
        "logsource": logsource, "detection": {"selection": selection, "condition": "selection"},
    }, sort_keys=False))
    return path


def test_the_fixtures_are_in_sigmahq_format():
    for path in sorted(SIGMAHQ.glob("*.yml")):
        document = read_rule_document(path)
        assert "name" not in document and str(uuid.UUID(document["id"])) == document["id"], path.name
        assert LogSource(**{k: document["logsource"].get(k) for k in ("product", "service", "category")}) in SOURCES


def test_a_rule_without_a_name_goes_by_its_id():
    rules = RuleSet.load(SIGMAHQ)
    assert {rule.rule_id for rule in rules} == {TMP_EXEC, NETCAT, CRON, HOST_PATH,
                                                "80a5e9b2-2b76-4db0-8705-77116e612bce"}
    assert all(rule.rule_id == rule.uuid for rule in rules)
    assert rules.get(TMP_EXEC).techniques == ("T1036.005",)


def test_they_load_beside_the_shipped_rules():
    rules = load_rules([DEFAULT_RULE_DIR, SIGMAHQ])
    assert len(rules) == len(load_rules()) + len(list(SIGMAHQ.glob("*.yml")))


def test_process_creation_reads_exec_events_with_sigmahq_field_names():
    rule = load_rule(SIGMAHQ / "proc_creation_lnx_exec_from_tmp.yml")
    event = new_event("linux", "linux.process", "exec", event__category="process", process__executable="/tmp/kworker",
                      process__parent__executable="/usr/sbin/docker-init", container__id="c1")
    assert rule.matches(event)
    assert not rule.matches({**event, "process.parent.executable": "/usr/bin/make"})  # ParentImage filter
    assert not rule.matches({**event, "event.action": "executable_deleted"})  # not a creation
    assert not rule.matches({**event, "event.dataset": "linux.process_io"})
    assert not rule.matches({**event, "process.executable": "/usr/bin/kworker"})
    assert RuleSet([rule]).match(event) == [rule]


def test_network_connection_reads_tracefs_tcp():
    rule = load_rule(SIGMAHQ / "net_connection_lnx_netcat_uncommon_port.yml")
    event = new_event("tracefs", "tracefs.tcp", "connection_attempted", process__executable="/usr/bin/nc.openbsd",
                      destination__ip="198.19.0.10", destination__port=4444, container__id="c1")
    assert rule.matches(event)
    assert not rule.matches({**event, "destination.port": 443})
    assert not rule.matches({**event, "event.action": "connection_established"})  # the same connection again
    assert not rule.matches({**event, "event.module": "network", "event.dataset": "network.flow"})


def test_file_event_reads_the_path_inside_the_container():
    rule = load_rule(SIGMAHQ / "file_event_lnx_cron_file_written.yml")
    event = new_event("linux", "linux.fim", "created", event__category="file_change", file__role="container-file",
                      file__path="/var/lib/docker/overlay2/x/merged/etc/cron.d/job",
                      file__path_in_container="/etc/cron.d/job", container__id="c1")
    assert rule.matches(event)
    assert rule.matches({**event, "event.action": "modified"})
    assert not rule.matches({**event, "event.action": "deleted"})
    assert not rule.matches({**event, "file.path_in_container": "/etc/cron.daily/job"})


def test_category_application_kubernetes_rules_match_audit_events():
    """SigmaHQ's kubernetes rules say `category: application`, which no event carries: it used to be
    tested against event.category, so such a rule could never match."""
    events = json.loads((FIXTURES / "kubernetes" / "deploy_hostpath_pod.events.json").read_text())
    engine = DetectionEngine(load_rules([SIGMAHQ]), load_policy())
    alerts = [alert for event in events for alert in engine.process(copy.deepcopy(event))]
    assert {(alert.rule_id, alert.object) for alert in alerts} == {
        (HOST_PATH, event["kubernetes.object.ref"]) for event in events
        if event.get("verb") == "create" and event.get("hostPath")}


@pytest.mark.parametrize(("logsource", "field"), [
    ({"category": "process_creation", "product": "linux"}, "User"),
    ({"category": "process_creation", "product": "linux"}, "CurrentDirectory"),
    ({"category": "network_connection", "product": "linux"}, "Initiated"),
    ({"category": "file_event", "product": "linux"}, "Image"),
])
def test_a_sigmahq_field_with_no_equivalent_is_refused_by_name(tmp_path, logsource, field):
    path = sigmahq_rule(tmp_path, logsource, {field: "x"})
    with pytest.raises(SigmaRuleError) as caught:
        load_rule(path)
    assert caught.value.field == f"detection.selection.{field}"
    assert f"field '{field}' has no equivalent" in caught.value.message


def test_event_field_names_pass_through_a_sigmahq_logsource(tmp_path):
    rule = load_rule(sigmahq_rule(tmp_path, {"category": "process_creation", "product": "linux"},
                                  {"Image|endswith": "/nsenter", "container.id|exists": True}))
    assert rule.matches(new_event("linux", "linux.process", "exec", process__executable="/usr/bin/nsenter",
                                  container__id="c1"))


def test_a_logsource_outside_the_table_reads_by_the_generic_rule(tmp_path):
    rule = load_rule(sigmahq_rule(tmp_path, {"product": "tracefs", "service": "process", "category": "process"},
                                  {"Image": "/usr/bin/x"}))  # no renames and no refusals outside the table
    assert (rule.source.module, rule.source.dataset, rule.source.where) == (
        "tracefs", "tracefs.process", (("event.category", ("process",)),))
    assert rule.matches(new_event("tracefs", "tracefs.process", "exec", event__category="process", Image="/usr/bin/x"))


# --- stowaway run --rules DIR ----------------------------------------------------------------------


class Started(Exception):
    """What the stand-in runner raises: the run got as far as starting, with these options."""


@pytest.fixture
def fake_runner(monkeypatch):
    """The runner replaced by one that records the options it was started with, and stops there."""
    import harness.runner

    calls: list[Any] = []

    def fake(scenarios, options):
        calls.append(options)
        raise Started

    monkeypatch.setattr(harness.runner, "run", fake)
    return calls


def test_run_rules_takes_a_folder_of_sigmahq_rules(fake_runner, tmp_path):
    from harness import cli
    from harness.monitoring import known_detector_ids

    assert TMP_EXEC in known_detector_ids([SIGMAHQ])
    with pytest.raises(Started):  # the rules loaded, the expectations checked: the run would start
        cli.main(["run", SCENARIO, "--rules", str(DEFAULT_RULE_DIR), "--rules", str(SIGMAHQ),
                  "--out", str(tmp_path / "reports"), "--quiet"])
    assert fake_runner[0].rule_dirs == [DEFAULT_RULE_DIR, SIGMAHQ]


def test_run_refuses_a_sigmahq_rule_it_cannot_read_before_starting(fake_runner, tmp_path, capsys):
    from harness import cli

    rules = tmp_path / "rules"
    rules.mkdir()
    sigmahq_rule(rules, {"category": "process_creation", "product": "linux"}, {"User": "root"})
    assert cli.main(["run", SCENARIO, "--rules", str(rules)]) == 2
    assert fake_runner == []
    error = capsys.readouterr().err
    assert "rule.yml" in error and "detection.selection.User" in error
