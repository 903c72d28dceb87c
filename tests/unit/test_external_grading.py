"""Grading an external detector on a finished run: hand-made outcomes and alerts, every verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.external.alert import ExternalAlert
from harness.external.grading import ExternalVerdict, grade
from harness.external.mapping import DetectorMapping, Expected, MappingError, load_mapping, load_mappings
from harness.outcome import FleetService, Outcome, RunResult, SoakResult, Verdict

A = "a" * 64
B = "b" * 64
C = "c" * 64
D = "d" * 64
FLEET = "f" * 64


def outcome(scenario_id: str, kind: str, container: str, verdict: Verdict = Verdict.DETECTED,
            variant_of: str | None = None, start: float = 100.0, end: float = 200.0) -> Outcome:
    return Outcome(scenario_id=scenario_id, title=scenario_id, kind=kind, techniques=["T1611"], backend="docker",
                   verdict=verdict, reason="", started_at=start, action_at=start + 10, finished_at=end,
                   objects=[f"container:{container}"], variant_of=variant_of)


def run_of(*outcomes: Outcome, soak: SoakResult | None = None) -> RunResult:
    return RunResult(run_id="r", attack_version="16", backend="docker", started_at=0, finished_at=1000,
                     outcomes=list(outcomes), soak=soak)


MAPPING = DetectorMapping(
    detector="tool", format="generic", path="maps/tool.yaml",
    expect={"esc.nsenter": Expected(fires=("setns", "mount")), "esc.socket": Expected(fires=("docker-sock",))},
    ignore={"container-create": "every container start"})


def alert(rule: str, container: str = "", time: float = 150.0, pid: int = 0) -> ExternalAlert:
    return ExternalAlert(detector="tool", rule=rule, time=time, container_id=container, pid=pid)


def verdicts(report: object) -> dict[str, str]:
    return {r.scenario_id: r.verdict.value for r in report.results}  # type: ignore[attr-defined]


def test_each_verdict_from_its_own_alerts() -> None:
    run = run_of(outcome("esc.nsenter", "adversary", A), outcome("esc.socket", "adversary", B),
                 outcome("drop.tmp", "adversary", C), outcome("twin.agent", "benign", D, Verdict.SILENT))
    alerts = [alert("setns", A, 112.0), alert("mount", A[:12], 113.5),  # a short id names it too
              alert("setns", B), alert("whatever", C), alert("tracing", D), alert("container-create", D)]
    report = grade(run, alerts, MAPPING, source="file:x")
    assert verdicts(report) == {"esc.nsenter": "detected", "esc.socket": "missed",
                                "drop.tmp": "no_expectation", "twin.agent": "false_positive"}
    nsenter, socket_, drop, twin = report.results
    assert nsenter.latency_s == 3.5  # the last expected rule's first alert, from the action at 110
    assert socket_.reason.startswith("no alert from docker-sock") and "alerted: setns" in socket_.reason
    assert drop.fired == ["whatever"]
    assert twin.fired == ["tracing"]  # the ignored rule is not judged
    assert report.attributed == 6 and report.unattributed == 0


def test_a_twin_is_silent_when_only_an_ignored_rule_fires_and_a_failed_scenario_is_not_run() -> None:
    run = run_of(outcome("twin.agent", "benign", D, Verdict.SILENT),
                 outcome("esc.nsenter", "adversary", A, Verdict.ERROR))
    report = grade(run, [alert("container-create", D), alert("setns", A), alert("mount", A)], MAPPING, source="s")
    assert verdicts(report) == {"twin.agent": "silent", "esc.nsenter": "not_run"}
    assert report.ignored == {"container-create": "every container start"}


def test_alerts_outside_the_window_or_on_no_lab_object_are_unattributed_by_rule() -> None:
    run = run_of(outcome("esc.nsenter", "adversary", A))
    alerts = [alert("setns", A, time=50.0), alert("mount", A, time=250.0), alert("setns", "e" * 64),
              alert("module-load"), alert("module-load", pid=4242)]
    report = grade(run, alerts, MAPPING, source="s")
    assert verdicts(report) == {"esc.nsenter": "missed"}
    assert report.unattributed == 5 and report.attributed == 0
    assert report.unattributed_rules == {"setns": 2, "module-load": 2, "mount": 1}


def test_a_variant_is_judged_by_its_scenarios_entry() -> None:
    run = run_of(outcome("esc.socket", "adversary", A),
                 outcome("esc.socket@via=curl", "adversary", B, variant_of="esc.socket"))
    report = grade(run, [alert("docker-sock", A), alert("setns", B)], MAPPING, source="s")
    assert verdicts(report) == {"esc.socket": "detected", "esc.socket@via=curl": "missed"}
    assert report.counts()["detected"] == 1 and report.counts()["missed"] == 0  # canonical rows only


def test_alerts_on_the_soaks_fleet_are_false_positives_unless_ignored() -> None:
    soak = SoakResult(minutes=1, started_at=100, finished_at=300, status="complete", reason="",
                      services=[FleetService(name="web", does="serves", objects=[f"container:{FLEET}"])])
    run = run_of(outcome("esc.socket", "adversary", A), soak=soak)
    report = grade(run, [alert("tracing", FLEET[:12], 250), alert("container-create", FLEET, 260),
                         alert("tracing", FLEET, 400)], MAPPING, source="s")
    assert report.soak_false_positives == {"tracing": 1}
    assert report.unattributed == 1  # after the soak's window


def test_no_mapping_means_no_expectation_for_every_adversary_but_twins_still_judged() -> None:
    run = run_of(outcome("esc.socket", "adversary", A), outcome("twin", "benign", D, Verdict.SILENT))
    report = grade(run, [alert("docker-sock", A), alert("x", D)], DetectorMapping.empty("falco", "falco"), source="s")
    assert verdicts(report) == {"esc.socket": "no_expectation", "twin": "false_positive"}
    assert report.results[0].verdict is ExternalVerdict.NO_EXPECTATION


def write(tmp_path: Path, text: str, name: str = "tool.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_mapping_file_loads_with_its_entries(tmp_path: Path) -> None:
    path = write(tmp_path, "detector: tool\nformat: falco\nabout: a tool\nexpect:\n"
                           "  esc.socket: {fires: [A, B], why: it mounts the socket}\n  esc.other:\n    fires: C\n"
                           "ignore:\n  noisy: every start\n")
    mapping = load_mapping(path, {"esc.socket", "esc.other"})
    assert mapping.expect["esc.socket"] == Expected(fires=("A", "B"), why="it mounts the socket")
    assert mapping.expect["esc.other"].fires == ("C",)
    assert mapping.ignore == {"noisy": "every start"}
    assert mapping.expected_for("esc.socket@x=1", "esc.socket") is mapping.expect["esc.socket"]


@pytest.mark.parametrize(("text", "field", "message"), [
    ("detector: t\nformat: splunk\n", "format", "is not one of"),
    ("format: falco\n", "detector", "non-empty string"),
    ("detector: t\nformat: falco\nexpekt: {}\n", "expekt", "unknown key"),
    ("detector: t\nformat: falco\nexpect: {nope: {fires: [A]}}\n", "expect.nope", "names no known scenario"),
    ("detector: t\nformat: falco\nexpect: {esc.socket: {fires: []}}\n", "expect.esc.socket.fires", "non-empty list"),
    ("detector: t\nformat: falco\nexpect: {esc.socket: {fire: [A]}}\n", "expect.esc.socket.fire", "unknown key"),
    ("detector: t\nformat: falco\nexpect: {esc.socket: {fires: [A, '']}}\n", "expect.esc.socket.fires[1]", "non-empty"),
    ("detector: t\nformat: falco\nignore: [a]\n", "ignore", "must map"),
    ("- a list\n", "(file)", "must be a mapping"),
    ("detector: [\n", "(file)", "is not YAML"),
])
def test_a_broken_mapping_file_is_refused_naming_file_and_field(tmp_path: Path, text: str, field: str,
                                                               message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(MappingError) as caught:
        load_mapping(path, {"esc.socket"})
    assert caught.value.field == field and message in str(caught.value)
    assert str(caught.value).startswith(f"{path}: {field}: ")


def test_two_files_for_one_detector_are_refused(tmp_path: Path) -> None:
    one = write(tmp_path, "detector: t\nformat: falco\n", "one.yaml")
    two = write(tmp_path, "detector: t\nformat: ecs\n", "two.yaml")
    with pytest.raises(MappingError, match="mapped already by"):
        load_mappings([one, two])


def test_a_tool_naming_only_a_pod_is_placed_by_namespace_and_name_or_its_controllers_pods() -> None:
    pod = outcome("k8s.exec", "adversary", A)
    pod.objects.append("k8sname:pod/team-a/batch-3fa9c1")
    daemonset = outcome("k8s.ds", "benign", B, Verdict.SILENT)
    daemonset.objects = ["daemonset:uid-1", "k8sname:daemonset/kube-system/node-agent"]
    run = run_of(pod, daemonset)
    mapping = DetectorMapping(detector="siem", format="ecs", path="m.yaml",
                              expect={"k8s.exec": Expected(fires=("exec",))})

    def on(namespace: str, name: str, rule: str) -> ExternalAlert:
        return ExternalAlert(detector="siem", rule=rule, time=150.0, pod_namespace=namespace, pod_name=name)

    alerts = [on("team-a", "batch-3fa9c1", "exec"), on("kube-system", "node-agent-x7k2p", "ds-alert"),
              on("team-b", "batch-3fa9c1", "other-namespace"), on("kube-system", "node-agentish", "not-its-pod")]
    report = grade(run, alerts, mapping, source="s")
    assert verdicts(report) == {"k8s.exec": "detected", "k8s.ds": "false_positive"}
    assert report.results[1].fired == ["ds-alert"]
    assert report.unattributed_rules == {"other-namespace": 1, "not-its-pod": 1}
