"""`stowaway explain-alert`: triage context for one alert, read from the committed recorded runs.

Every expectation here is checked against the recorded events themselves (tests/fixtures/runs/):
a fact the triage shows must be on the event it names, and a fact it says is missing must be on
no event about the object.
"""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path

import pytest
import yaml

from detectors.event import object_ref
from harness import cli, triage
from harness.recording import RUN_FILE
from harness.replay import RecordedRun, load_run
from harness.triage import sections

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "tests" / "fixtures" / "runs"
RECORDED = RUNS / "docker-recorded"  # recorded with `stowaway run --record`, nothing approximated
ASSEMBLED = RUNS / "docker-escape-logging-network"
SWARM = RUNS / "swarm-rollouts"
ALL_RUNS = sorted(p for p in RUNS.iterdir() if (p / RUN_FILE).is_file())

LOGGING = "stowaway.docker.logging-disabled"
LOGGING_CONTAINER = "container:3e3d355fd0e4bbe4600d14919182be7de87dd99b0963dd836a5dfc45436219b1"


@cache
def _run(path: Path) -> RecordedRun:
    return load_run(path)


@cache
def _alerts(path: Path) -> tuple[tuple[triage.RunAlert, ...], str]:
    alerts, source = triage.load_alerts(_run(path))
    return tuple(alerts), source


@cache
def _triage(path: Path, rule: str, ref: str) -> triage.Triage:
    run = _run(path)
    alerts, source = _alerts(path)
    chosen = triage.choose(alerts, f"{rule}@{ref}")
    detector = triage.load_detector(rule)
    policy, platform = triage.load_policy_context(run, chosen.alert, detector)
    return triage.triage(chosen, alerts, run.events, detector, policy, platform, run.run_id, source)


def _event(path: Path, event_id: str) -> dict:
    return next(e for e in _run(path).events if e["event.id"] == event_id)


def _fact(t: triage.Triage, name: str, section: str = "workload") -> triage.Fact:
    return next(f for f in getattr(t, section).facts if f.name == name)


# --- the alerts of a run ------------------------------------------------------------------------------


def test_without_a_scorecard_the_alerts_come_from_a_replay_and_say_so():
    alerts, source = _alerts(RECORDED)
    assert source == triage.FROM_REPLAY
    assert [a.alert.raised_at for a in alerts] == sorted(a.alert.raised_at for a in alerts)
    scenarios = {r.scenario_id for r in _run(RECORDED).outcomes}
    assert all(set(a.scenarios) <= scenarios for a in alerts)
    events = {e["event.id"] for e in _run(RECORDED).events}
    assert all(set(a.alert.evidence) <= events for a in alerts)  # every evidence id is a recorded event


def test_the_listing_numbers_every_alert_with_its_rule_object_scenario_and_time(no_lab, capsys):
    assert cli.main(["explain-alert", str(RECORDED)]) == 0
    out = capsys.readouterr().out.splitlines()
    alerts, _ = _alerts(RECORDED)
    assert out[0].startswith(f"{len(alerts)} alert(s) in {RECORDED}, from a replay")
    rows = [line.split() for line in out[2:2 + len(alerts)]]
    for number, (row, alert) in enumerate(zip(rows, alerts, strict=True), 1):
        assert row == [str(number), alert.alert.rule_id, alert.short_object, ",".join(alert.scenarios),
                       triage.when(alert.alert.raised_at)]


def test_the_listing_as_json(no_lab, capsys):
    assert cli.main(["explain-alert", str(RECORDED), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    alerts, _ = _alerts(RECORDED)
    assert data["alerts_from"] == triage.FROM_REPLAY
    assert [(r["index"], r["rule_id"], r["object"]) for r in data["alerts"]] == \
        [(i, a.alert.rule_id, a.alert.object) for i, a in enumerate(alerts, 1)]


def test_an_index_and_a_rule_at_an_id_prefix_name_the_same_alert():
    alerts, _ = _alerts(RECORDED)
    number = next(i for i, a in enumerate(alerts, 1) if a.alert.rule_id == LOGGING)
    by_index = triage.choose(alerts, str(number))
    assert by_index is triage.choose(alerts, f"{LOGGING}@{LOGGING_CONTAINER[:len('container:') + 12]}")
    assert by_index is triage.choose(alerts, f"{LOGGING}@{LOGGING_CONTAINER}")
    assert by_index.alert.object == LOGGING_CONTAINER


def test_a_replay_scorecard_beside_the_recording_is_read_and_named(no_lab, capsys, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(RECORDED, run_dir)
    assert cli.main(["replay", str(run_dir), "--out", str(run_dir)]) == 0  # writes run_dir/scorecard.json
    capsys.readouterr()
    alerts, source = triage.load_alerts(load_run(run_dir))
    assert source == triage.FROM_REPLAY_SCORECARD
    assert [(a.alert.rule_id, a.alert.object, a.alert.evidence) for a in alerts] == \
        [(a.alert.rule_id, a.alert.object, a.alert.evidence) for a in _alerts(RECORDED)[0]]


# --- 1. the workload ----------------------------------------------------------------------------------


def test_the_workload_is_read_from_the_events_it_names():
    t = _triage(RECORDED, LOGGING, LOGGING_CONTAINER)
    driver = _fact(t, "log driver")
    assert driver.value == "none"
    assert _event(RECORDED, driver.event_id)["container.logging.driver"] == "none"
    image = _fact(t, "image id")
    assert image.value == _event(RECORDED, image.event_id)["container.image.id"]
    for name, field in sections._FACTS:  # every fact of one field is that field of the event it names
        fact = _fact(t, name)
        if field is not None and fact.value is not None:
            event = _event(RECORDED, fact.event_id)
            assert object_ref(event) == LOGGING_CONTAINER
            assert fact.value == triage.shown(event[field])


def test_the_image_signature_is_the_one_recorded_with_the_run_and_verified():
    t = _triage(RECORDED, LOGGING, LOGGING_CONTAINER)
    image_id = _fact(t, "image id").value
    assert image_id in _run(RECORDED).platform["signatures"]
    signature = _fact(t, "image signature").value
    assert signature.startswith("signed by platform-image-pipeline as stowaway/base")
    assert "(not as built)" in signature  # it runs its own shell loop, not the image's /bin/sh


def test_what_no_event_carried_is_said_to_be_missing():
    t = _triage(RECORDED, LOGGING, LOGGING_CONTAINER)
    about = triage.about(_run(RECORDED).events, LOGGING_CONTAINER)
    for name in ("kubernetes namespace", "kubernetes pod", "swarm service id (claimed)"):
        fact = _fact(t, name)
        field = dict(sections._FACTS)[name]
        assert fact.value is None and not any(field in e for e in about), name
    assert "not in the telemetry: swarm service id (claimed)" in t.render()


def test_a_service_is_described_by_its_spec_and_what_comes_from_its_tasks_says_so():
    alerts, _ = _alerts(SWARM)
    alert = next(a for a in alerts if a.alert.rule_id == "stowaway.swarm.service-logging-disabled")
    t = _triage(SWARM, alert.alert.rule_id, alert.alert.object)
    driver = _fact(t, "log driver")
    assert driver.value == "none" and _event(SWARM, driver.event_id)["event.dataset"] == "swarm.services"
    image = _fact(t, "image id").value
    assert image not in _run(SWARM).platform["signatures"]
    assert _fact(t, "image signature").value.startswith("none: no trusted signer")
    privileged = _fact(t, "privileged")  # a service spec has no such field: its task container's
    assert privileged.value.endswith("(from a task container)")
    assert _event(SWARM, privileged.event_id)["event.dataset"] == "docker.events"


# --- 2. who deployed it -------------------------------------------------------------------------------


def test_the_deployer_is_the_engines_create_and_start_and_no_caller_is_invented():
    t = _triage(RECORDED, LOGGING, LOGGING_CONTAINER)
    actions = [(_event(RECORDED, line.event_id)["event.action"], line.evidence) for line in t.deployment.engine]
    assert actions == [("create", False), ("start", True)]
    assert all(object_ref(_event(RECORDED, line.event_id)) == LOGGING_CONTAINER for line in t.deployment.engine)
    assert "name no caller" in _fact(t, "engine API caller", "deployment").value
    assert _fact(t, "kubernetes user", "deployment").value is None
    swarm = _fact(t, "swarm service", "deployment")
    assert swarm.value.startswith("none") and "container.runtime" in _event(RECORDED, swarm.event_id)


def test_a_swarm_task_is_only_what_the_orchestrator_confirmed():
    alerts, _ = _alerts(SWARM)
    alert = next(a for a in alerts if a.alert.rule_id == "stowaway.swarm.service-logging-disabled")
    swarm = _fact(_triage(SWARM, alert.alert.rule_id, alert.alert.object), "swarm service", "deployment")
    assert "the orchestrator confirmed" in swarm.value
    assert _event(SWARM, swarm.event_id)["orchestrator.task.verified"] is True


# --- 3. what it did -----------------------------------------------------------------------------------


def test_recent_activity_is_real_events_of_the_object_newest_last_with_the_evidence_marked():
    t = _triage(RECORDED, LOGGING, LOGGING_CONTAINER)
    act = t.activity
    assert act.processes and act.network and not act.files  # this container wrote no watched file
    for lines in (act.processes, act.network):
        assert len(lines) <= act.limit
        assert [line.at for line in lines] == sorted(line.at for line in lines)
        for line in lines:
            event = _event(RECORDED, line.event_id)
            assert object_ref(event) == LOGGING_CONTAINER or event.get("destination.container.id") == \
                LOGGING_CONTAINER.partition(":")[2]
            assert line.at <= t.alert.alert.raised_at + triage.AROUND_S
    assert any("nc -w 2 -q 1 198.19.0.10 4444" in line.detail for line in act.network)
    assert [(line.event_id, line.evidence) for line in act.evidence] == [("docker-76", True)]
    assert not act.missing_evidence


def test_an_analytics_evidence_is_marked_among_the_flows():
    alerts, _ = _alerts(ASSEMBLED)
    alert = next(a for a in alerts if a.alert.rule_id == "stowaway.analytic.net-relay")
    t = _triage(ASSEMBLED, alert.alert.rule_id, alert.alert.object)
    marked = {line.event_id for line in t.activity.network if line.evidence}
    assert marked == set(alert.alert.evidence)


# --- 4. related alerts --------------------------------------------------------------------------------


def test_other_alerts_on_the_object_and_on_its_image():
    t = _triage(RECORDED, LOGGING, LOGGING_CONTAINER)
    alerts, _ = _alerts(RECORDED)
    same = {a.alert.rule_id for a in alerts if a.alert.object == LOGGING_CONTAINER} - {LOGGING}
    assert {r.rule_id for r in t.related.same_object} == same
    image = t.related.image_id
    by_object = {object_ref(e): e["container.image.id"] for e in _run(RECORDED).events if e.get("container.image.id")}
    assert t.related.same_image
    for row in t.related.same_image:
        assert row.object != LOGGING_CONTAINER and by_object[row.object] == image


# --- 5. what could make it benign ---------------------------------------------------------------------


def test_the_benign_conditions_are_the_rules_own_and_the_policys_answer_on_the_evidence():
    t = _triage(RECORDED, LOGGING, LOGGING_CONTAINER)
    b = t.benign
    rule = yaml.safe_load((ROOT / b.detector.source).read_text())
    assert b.detector.falsepositives == tuple(rule["falsepositives"])
    assert b.detector.document == f"docs/detections/{LOGGING}.md" and (ROOT / b.detector.document).is_file()
    assert "docker.logging.dev-minimal-logging" in b.detector.twins
    assert set(b.detector.policy_fields) == {"policy.logging.collected", "policy.logging.sanctioned"}
    sanctioned = next(row for row in b.fields if row.field == "policy.logging.sanctioned")
    assert sanctioned.kinds == ("logging",) and sanctioned.files == ("detectors/policy/logging.yaml",)
    assert sanctioned.values == (("docker-76", "policy.logging.sanctioned=false"),)
    assert b.matched == (("docker-76", True),)
    silencing = {(w.field, w.value) for w in b.what_if if w.silences}
    assert silencing == {("policy.logging.sanctioned", True)}


def test_a_sanction_is_never_said_to_hold_when_the_events_show_otherwise():
    t = _triage(RECORDED, LOGGING, LOGGING_CONTAINER)
    (dev,) = [s for s in t.benign.sanctions if s.name == "dev-experiments"]
    assert dev.file == "detectors/policy/logging.yaml"
    (need,) = dev.needs
    assert "platform dev network" in need.what and need.holds is False
    # The event it was held against: the container's networks are the run's lan and internet ones.
    purposes = {n["id"]: n["purpose"] for n in _run(RECORDED).platform["networks"]}
    networks = _event(RECORDED, dev.event_id)["container.network.ids"]
    assert networks and {purposes[n] for n in networks} == {"lan", "internet"}
    assert "needs every network it joins a platform dev network (by id): NOT shown on docker-76" in t.render()


def test_a_draft_policy_is_asked_and_its_answer_is_what_counts(no_lab, capsys, tmp_path):
    policy = tmp_path / "policy"
    shutil.copytree(ROOT / "detectors" / "policy", policy)
    shutil.copytree(ROOT / "detectors" / "baselines", tmp_path / "baselines")  # the files name ../baselines
    logging = policy / "logging.yaml"
    logging.write_text(logging.read_text().replace("networks: [dev]", "networks: [lan, internet]"))
    argv = ["explain-alert", str(RECORDED), f"{LOGGING}@{LOGGING_CONTAINER}", "--policy", str(policy), "--json"]
    assert cli.main(argv) == 0
    benign = json.loads(capsys.readouterr().out)["benign"]
    (dev,) = [s for s in benign["sanctions"] if s["name"] == "dev-experiments"]
    assert [n["holds"] for n in dev["needs"]] == [True]
    sanctioned = next(row for row in benign["fields"] if row["field"] == "policy.logging.sanctioned")
    assert sanctioned["values"] == [["docker-76", "policy.logging.sanctioned=true"]]
    assert benign["matched"] == [["docker-76", False]]  # under the draft the rule would not have fired


def test_a_rule_no_sanction_can_silence_says_so():
    alerts, _ = _alerts(SWARM)
    alert = next(a for a in alerts if a.alert.rule_id == "stowaway.swarm.unmanaged-container")
    t = _triage(SWARM, alert.alert.rule_id, alert.alert.object)
    assert not t.benign.sanctions
    assert {(w.field, w.value, w.silences) for w in t.benign.what_if} == \
        {("policy.orchestration.network_owned", False, True)}
    assert "sanctions: none can make it benign" in t.render()


def test_an_analytic_cannot_be_rerun_and_its_sanctions_are_held_against_its_own_workload():
    alerts, _ = _alerts(ASSEMBLED)
    alert = next(a for a in alerts if a.alert.rule_id == "stowaway.analytic.net-relay")
    t = _triage(ASSEMBLED, alert.alert.rule_id, alert.alert.object)
    assert t.benign.matched is None
    for sanction in t.benign.sanctions:
        if sanction.event_id is not None and sanction.needs:
            assert object_ref(_event(ASSEMBLED, sanction.event_id)) == alert.alert.object


# --- every alert of every committed run ---------------------------------------------------------------


@pytest.mark.parametrize("run_dir", ALL_RUNS, ids=[p.name for p in ALL_RUNS])
def test_every_alert_triages_from_recorded_events_only(run_dir):
    events = {e["event.id"] for e in _run(run_dir).events}
    alerts, _ = _alerts(run_dir)
    assert alerts
    for alert in alerts:
        t = _triage(run_dir, alert.alert.rule_id, alert.alert.object)
        facts = [*t.workload.facts, *t.deployment.facts]
        assert all(f.event_id in events for f in facts if f.event_id is not None)
        act = t.activity
        lines = [*t.deployment.engine, *act.processes, *act.network, *act.files, *act.evidence]
        assert all(line.event_id in events for line in lines)
        assert json.loads(json.dumps(t.to_dict())) == t.to_dict()
        text = t.render()
        for header in ("1. Workload", "2. Who or what deployed it", "3. Activity", "4. Other alerts",
                       "5. What could make it benign"):
            assert header in text


# --- the command --------------------------------------------------------------------------------------


def test_explain_alert_prints_the_triage(no_lab, capsys):
    assert cli.main(["explain-alert", str(RECORDED), f"{LOGGING}@{LOGGING_CONTAINER[:22]}"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{LOGGING} on {LOGGING_CONTAINER}\n")
    assert _triage(RECORDED, LOGGING, LOGGING_CONTAINER).render() in out


def test_explain_alert_json_round_trips(no_lab, capsys):
    assert cli.main(["explain-alert", str(RECORDED), f"{LOGGING}@{LOGGING_CONTAINER}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == _triage(RECORDED, LOGGING, LOGGING_CONTAINER).to_dict()


def test_events_limits_each_kind_of_activity(no_lab, capsys):
    assert cli.main(["explain-alert", str(RECORDED), f"{LOGGING}@{LOGGING_CONTAINER}", "--json", "--events", "2"]) == 0
    act = json.loads(capsys.readouterr().out)["activity"]
    assert act["limit"] == 2 and len(act["processes"]) == 2 and len(act["network"]) == 2


def _bad(capsys, argv: list[str]) -> str:
    assert cli.main(["explain-alert", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_no_such_directory_is_bad_input(no_lab, capsys, tmp_path):
    assert f"{tmp_path / 'nowhere'}: no such directory" in _bad(capsys, [str(tmp_path / "nowhere")])


def test_a_directory_that_is_no_recorded_run_is_bad_input(no_lab, capsys, tmp_path):
    assert f"{tmp_path / RUN_FILE}: field (file): not found" in _bad(capsys, [str(tmp_path)])


def test_an_index_out_of_range_is_bad_input(no_lab, capsys):
    count = len(_alerts(RECORDED)[0])
    assert f"ALERT {count + 1}: no such alert (the run has {count}" in _bad(capsys, [str(RECORDED), str(count + 1)])


def test_a_rule_the_run_never_raised_is_bad_input(no_lab, capsys):
    line = _bad(capsys, [str(RECORDED), "stowaway.k8s.privileged-pod@pod:1234"])
    assert "the run has no alert of rule stowaway.k8s.privileged-pod" in line


def test_an_object_the_rule_did_not_fire_on_is_bad_input(no_lab, capsys):
    line = _bad(capsys, [str(RECORDED), f"{LOGGING}@container:000000000000"])
    assert f"rule {LOGGING} raised no alert on container:000000000000" in line
    assert "container:3e3d355fd0e4" in line  # and where it did


def test_an_ambiguous_prefix_is_bad_input_naming_what_it_matches(no_lab, capsys):
    rule = "stowaway.net.process-egress-not-allowlisted"
    objects = sorted({a.alert.object for a in _alerts(ASSEMBLED)[0] if a.alert.rule_id == rule})
    assert len(objects) == 2
    line = _bad(capsys, [str(ASSEMBLED), f"{rule}@container:"])
    assert "container: is ambiguous" in line and all(o in line for o in objects)


def test_a_malformed_alert_is_bad_input(no_lab, capsys):
    assert "expected an index or RULE_ID@OBJECT" in _bad(capsys, [str(RECORDED), "logging-disabled"])


def test_a_scorecard_of_another_run_is_bad_input(no_lab, capsys, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(SWARM, run_dir)
    assert cli.main(["replay", str(RECORDED), "--out", str(tmp_path / "other")]) == 0
    capsys.readouterr()
    shutil.copy(tmp_path / "other" / "scorecard.json", run_dir / "scorecard.json")
    line = _bad(capsys, [str(run_dir)])
    assert f"{run_dir / 'scorecard.json'}: field run_id" in line and "another run" in line


def test_events_must_be_positive(no_lab, capsys):
    assert "--events: must be at least 1" in _bad(capsys, [str(RECORDED), "1", "--events", "0"])
