"""The responder's decisions and proofs, with the lab and the evidence faked at their boundary."""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.alert import Alert
from harness.response.indicators import Indicators
from harness.response.playbooks import Playbook
from harness.response.responder import Responder, choose
from lab import LabError

CID = "a" * 64
SINK = "198.19.0.5"
EGRESS = Playbook(name="contain-egress", triggers=("net.egress",), mode="auto", contain="quarantine", collect=True,
                  priority=20)
ESCAPE = Playbook(name="contain-escape", triggers=("escape.tool",), mode="auto", contain="pause", collect=False,
                  priority=10)


def alert(rule: str, raised_at: float = 100.0, obj: str = f"container:{CID}") -> Alert:
    return Alert(rule_id=rule, title=rule, severity="high", techniques=(), object=obj, evidence=(),
                 first_seen=raised_at, raised_at=raised_at)


@dataclass
class Record:
    before: dict[str, Any]
    released_at: float | None = None
    ref: str = ""
    at: float = 150.0
    after: dict[str, Any] = field(default_factory=dict)
    release_after: dict[str, Any] = field(default_factory=dict)
    action: str = ""

    @property
    def contained(self) -> bool:
        return self.released_at is None

    @property
    def container_id(self) -> str:
        return self.ref.removeprefix("container:")


@dataclass
class FakeSession:
    """The LabSession surface the responder uses, with a container that can be moved and frozen."""

    movable: bool = True
    networks_now: dict[str, str] = field(default_factory=lambda: {"stw-lan": "198.18.0.7", "stw-inet": "198.19.0.9"})
    state: dict[str, Any] = field(default_factory=lambda: {"Running": True, "Paused": False, "Status": "running"})
    records: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    contained: bool = False
    # Swarm: service ref -> the containers the orchestrator runs as its tasks
    services: dict[str, list[str]] = field(default_factory=dict)
    hold_leaves_running: bool = False  # the orchestrator did not stop the tasks in time
    left_on: str = ""  # a network the quarantine failed to take it off

    def __post_init__(self) -> None:
        self.sinkhole_endpoint = types.SimpleNamespace(address=SINK, ports=(443,))
        self.networks = {"inet": types.SimpleNamespace(name="stw-inet")}
        api = types.SimpleNamespace(inspect_container=self._inspect)
        self.engine = types.SimpleNamespace(client=types.SimpleNamespace(api=api))

    def _inspect(self, _cid: str) -> dict[str, Any]:
        networks = {"stw-q": "198.18.192.2"} if self.contained and not self.state["Paused"] else self.networks_now
        if self.contained and self.left_on:
            networks = {**networks, self.left_on: self.networks_now[self.left_on]}
        return {"NetworkSettings": {"Networks": {n: {"IPAddress": a} for n, a in networks.items()}},
                "State": dict(self.state)}

    def quarantine(self, ref: str) -> Record:
        self.calls.append(f"quarantine {ref}")
        if not self.movable:
            raise LabError("it shares the host's network namespace")
        self.contained = True
        return Record(before={"networks": {n: {"address": a} for n, a in self.networks_now.items()}}, ref=ref,
                      action="quarantine", after={"quarantine_network": {"name": "stw-q"}})

    def pause(self, ref: str) -> Record:
        self.calls.append(f"pause {ref}")
        self.state.update(Paused=True, Status="paused")
        return Record(before={"state": "running"}, ref=ref, after={"paused": True}, action="pause")

    def release(self, record: Record) -> Record:
        self.calls.append(f"release {record.ref}" if record.ref.startswith("service:") else "release")
        self.contained = False
        if record.ref.startswith("service:"):
            self.state.update(Running=True, Paused=False, Status="running")
            record.release_after = {"running": [{"task": "t2", "container": "c" * 64}], "wanted": 1,
                                    "spec_restored": True}
        elif self.state["Running"]:
            self.state.update(Paused=False, Status="running")
        record.released_at = 200.0
        return record

    def service_of_task(self, container_ref: str, service_refs: list[str]) -> str | None:
        cid = container_ref.removeprefix("container:")
        return next((ref for ref in service_refs if cid in self.services.get(ref, [])), None)

    def service_containers(self, service_ref: str) -> list[str]:
        return [f"container:{c}" for c in self.services.get(service_ref, [])]

    def hold_service(self, ref: str) -> Record:
        self.calls.append(f"scale {ref}")
        running = [{"task": "t1", "container": CID}] if self.hold_leaves_running else []
        if not self.hold_leaves_running:
            self.state.update(Running=False, Paused=False, Status="exited")
        return Record(before={"mode": "replicated", "replicas": 1}, ref=ref, at=160.0,
                      after={"running": running, "spec_kept": True}, action="hold-service")

    def can_connect(self, ref: str, address: str, port: int) -> bool:
        self.calls.append(f"probe {address}:{port}")
        return not self.contained

    def sinkhole_records(self) -> list[dict[str, Any]]:
        return list(self.records)


def test_the_lowest_priority_playbook_acts_on_the_first_container_its_rules_named() -> None:
    alerts = [alert("net.egress", 5.0), alert("escape.tool", 9.0), alert("escape.tool", 7.0, "file:/etc/x")]
    playbook, target = choose([EGRESS, ESCAPE], alerts)  # type: ignore[misc]
    assert playbook is ESCAPE and target.trigger.raised_at == 9.0 and target.container_id == CID
    assert choose([EGRESS], [alert("other")]) is None


def test_quarantine_is_proved_the_evidence_checked_and_the_release_proved(no_settle, fake_evidence, tmp_path) -> None:
    session = FakeSession()
    result = Responder(session, [EGRESS], window=object(), evidence_dir=tmp_path).respond(
        [alert("net.egress")], [("destination", f"{SINK}:443/tcp")],
        [f"container:{CID}", "container:" + "b" * 64], 50.0)
    assert result is not None and result.passed, result
    assert session.calls == [f"quarantine container:{CID}", f"probe {SINK}:443", "release", f"probe {SINK}:443"]
    assert result.contained and result.released and result.time_to_contain_s is not None
    assert result.related == [{"container": "b" * 64, "matched": [f"destination:{SINK}:443/tcp"],
                               "same_scenario": True}]
    assert fake_evidence[0]["since"] == 50.0


def test_a_connection_recorded_after_containment_fails_the_proof(no_settle, fake_evidence, tmp_path) -> None:
    session = FakeSession()
    session.records = [{"peer": "198.19.0.9", "ts": 9e12, "duration": 1.0},  # opened after: got through
                       {"peer": "198.19.0.9", "ts": 9e12, "duration": 9e12}]  # opened before, cut by it
    result = Responder(session, [EGRESS], object(), tmp_path).respond([alert("net.egress")], [], [], 0.0)
    assert result is not None and not result.contained and not result.passed
    assert any("recorded 1 connection" in c for c in result.checks)


def test_a_planted_indicator_missing_from_the_evidence_fails_it(no_settle, fake_evidence, tmp_path) -> None:
    result = Responder(FakeSession(), [EGRESS], object(), tmp_path).respond(
        [alert("net.egress")], [("sha256", "0" * 64)], [], 0.0)
    assert result is not None and result.planted_missing == ["sha256:" + "0" * 64] and not result.passed


def test_a_container_that_cannot_be_moved_is_paused_instead(no_settle, fake_evidence, tmp_path) -> None:
    session = FakeSession(movable=False)
    result = Responder(session, [EGRESS], object(), tmp_path).respond([alert("net.egress")], [], [], 0.0)
    assert result is not None and result.action == "pause" and result.passed, result
    assert session.calls[:2] == [f"quarantine container:{CID}", f"pause container:{CID}"]


def test_a_failure_mid_response_still_releases(no_settle, monkeypatch, tmp_path) -> None:
    def broken(*_a: Any, **_k: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr("harness.response.evidence.collect", broken, raising=False)
    session = FakeSession()
    result = Responder(session, [EGRESS], object(), tmp_path).respond([alert("net.egress")], [], [], 0.0)
    assert result is not None and result.error == "OSError: disk full" and not result.passed
    assert "release" in session.calls and result.released


def test_a_swarm_task_is_frozen_collected_then_its_service_scaled_to_zero_and_given_back(
        no_settle, fake_evidence, tmp_path) -> None:
    session = FakeSession(services={"service:xyz": [CID]})
    result = Responder(session, [EGRESS], object(), tmp_path).respond(
        [alert("net.egress")], [], ["service:xyz", f"container:{CID}"], 0.0)
    assert result is not None and result.passed, result
    assert result.action == "hold-service" and result.object == "service:xyz"
    # frozen first (what a live process holds stays), the evidence taken frozen, then the service held
    assert session.calls == [f"pause container:{CID}", "scale service:xyz", "release", "release service:xyz"]
    assert fake_evidence and fake_evidence[0]["container"] == CID
    assert result.contained_at == 150.0  # the freeze, not the orchestrator's stop, is when it was cut off
    assert any("runs none of its tasks" in c for c in result.checks)
    assert any("runs 1 task(s) again" in c for c in result.release_checks)


def test_an_alert_on_the_service_itself_acts_on_its_running_tasks(no_settle, fake_evidence, tmp_path) -> None:
    session = FakeSession(services={"service:xyz": [CID]})
    result = Responder(session, [ESCAPE], object(), tmp_path).respond(
        [alert("escape.tool", obj="service:xyz")], [], ["service:xyz"], 0.0)
    assert result is not None and result.action == "hold-service" and result.passed, result
    assert session.calls[:2] == [f"pause container:{CID}", "scale service:xyz"]


def test_a_container_posing_as_a_task_is_contained_the_docker_way(no_settle, fake_evidence, tmp_path) -> None:
    """Its labels may name the service; the orchestrator does not run it: quarantine, not the service."""
    session = FakeSession(services={"service:xyz": ["b" * 64]})
    result = Responder(session, [EGRESS], object(), tmp_path).respond(
        [alert("net.egress")], [], ["service:xyz", f"container:{CID}"], 0.0)
    assert result is not None and result.action == "quarantine" and result.passed, result
    assert not [c for c in session.calls if c.startswith("scale")]


def test_tasks_still_running_after_the_hold_fail_the_proof_and_stay_frozen_until_the_end(
        no_settle, fake_evidence, tmp_path) -> None:
    session = FakeSession(services={"service:xyz": [CID]}, hold_leaves_running=True)
    result = Responder(session, [EGRESS], object(), tmp_path).respond(
        [alert("net.egress")], [], ["service:xyz", f"container:{CID}"], 0.0)
    assert result is not None and not result.contained and not result.passed
    assert any("still runs 1 task(s)" in c for c in result.checks)
    # not unfrozen while the hold had not stopped it; given back only with the service at the end
    assert session.calls.index("release") > session.calls.index("scale service:xyz")


def test_a_container_still_on_a_former_network_is_not_contained(no_settle, fake_evidence, tmp_path) -> None:
    session = FakeSession(left_on="stw-lan")
    result = Responder(session, [EGRESS], object(), tmp_path).respond([alert("net.egress")], [], [], 0.0)
    assert result is not None and not result.contained and not result.passed
    assert any("stw-lan, stw-q, not on stw-q alone" in c for c in result.checks), result.checks


def test_with_no_lab_internet_the_proof_is_the_engines_word_and_says_no_probe_was_made(
        no_settle, fake_evidence, tmp_path) -> None:
    session = FakeSession()
    session.sinkhole_endpoint = None
    result = Responder(session, [EGRESS], object(), tmp_path).respond([alert("net.egress")], [], [], 0.0)
    assert result is not None and result.contained and result.passed, result
    assert not [c for c in session.calls if c.startswith("probe")]
    assert any("no probe from inside" in c for c in result.checks)
    assert any(c == "the engine reports it on stw-q" for c in result.checks)


class PodSession(FakeSession):
    """A kind run's session: pods are held through the cluster."""

    backend_kind = "kind"
    enforced: bool = True  # the cluster's NetworkPolicy enforcer drops a held pod's new connections
    reopens: bool = True  # and lets them through again once the policy is gone

    def __post_init__(self) -> None:
        super().__post_init__()
        objects = {"node": {"spec": {"unschedulable": True}}, "service": {"spec": {"clusterIP": "198.18.240.10"}}}
        self.backend = types.SimpleNamespace(get=lambda kind, name, ns=None: objects.get(kind))

    def pod_can_connect(self, record: Record, address: str, port: int, timeout_s: float = 3.0) -> bool:
        self.calls.append(f"probe {address}:{port}")
        if record.released_at is None:
            return not self.enforced
        return self.reopens

    def hold_pod(self, ref: str, cordon: bool = False) -> Record:
        self.calls.append(f"hold {ref} cordon={cordon}")
        return Record(before={"node": "kind-worker", "containers": [CID], "namespace": "default", "name": "w",
                              "node_unschedulable": False, "ip": "198.18.232.5"},
                      ref="pod:uid-1", at=150.0, action="hold-pod",
                      after={"tasks": {CID: "PAUSED"}, "policy": "stw-hold-uid-1", "cordoned": cordon})

    def release(self, record: Record) -> Record:
        if record.action != "hold-pod":
            return super().release(record)
        self.calls.append(f"release {record.ref}")
        record.release_after = {"tasks": {CID: "RUNNING"}, "node_unschedulable": False, "policy_left": False,
                                "labelled": False, "problems": []}
        record.released_at = 200.0
        return record


class Window:
    def __init__(self, late: list[dict[str, Any]] | None = None) -> None:
        self.late = late or []

    def events_for(self, container: str, since: float, until: float) -> list[dict[str, Any]]:
        return list(self.late)


def test_an_escaped_pod_is_frozen_and_its_node_cordoned_then_given_back(no_settle, monkeypatch, tmp_path) -> None:
    collected: list[Any] = []

    def collect_pod(cluster: Any, record: Any, out_dir: Path, **kw: Any) -> Any:
        collected.append(record.ref)
        return types.SimpleNamespace(path=out_dir / "p.tar.gz", sha256="e" * 64, complete=True, missing=(),
                                     indicators=Indicators())

    monkeypatch.setattr("harness.response.pod_evidence.collect_pod", collect_pod)
    session = PodSession()
    escape = dataclasses.replace(ESCAPE, collect=True)
    result = Responder(session, [escape], Window(), tmp_path).respond(
        [alert("escape.tool", obj="pod:uid-1")], [], ["pod:uid-1"], 0.0)
    assert result is not None and result.passed, result
    assert result.action == "hold-pod" and result.object == "pod:uid-1" and collected == ["pod:uid-1"]
    assert [c for c in session.calls if not c.startswith("probe")] == ["hold pod:uid-1 cordon=True",
                                                                      "release pod:uid-1"]
    assert any("PAUSED" in c for c in result.checks) and any("is cordoned" in c for c in result.checks)
    # both ways out probed from its network namespace while held, and again once given back
    assert f"probe {SINK}:443" in session.calls and "probe 198.18.240.10:53" in session.calls
    assert any("to the cluster DNS Service 198.18.240.10:53 failed" in c for c in result.checks)
    assert any(f"to the lab internet {SINK}:443 opened again" in c for c in result.release_checks)


def test_a_held_pod_whose_connections_still_open_is_not_contained(no_settle, monkeypatch, tmp_path) -> None:
    """A cluster whose CNI ignores NetworkPolicy: the freeze alone does not pass for a network hold."""
    monkeypatch.setattr("harness.response.pod_evidence.collect_pod", lambda *a, **k: types.SimpleNamespace(
        path=tmp_path / "p", sha256="", complete=True, missing=(), indicators=Indicators()))
    session = PodSession()
    session.enforced = False
    result = Responder(session, [EGRESS], Window(), tmp_path).respond(
        [alert("net.egress", obj="pod:uid-1")], [], [], 0.0)
    assert result is not None and not result.contained and not result.passed
    assert any(f"to the lab internet {SINK}:443 still opened" in c for c in result.checks)


def test_a_pod_on_its_nodes_network_is_not_probed_and_the_proof_says_why(no_settle, monkeypatch, tmp_path) -> None:
    """A hostNetwork pod: a probe from its namespace would be the node's own (and pass the node's
    exemptions), so it would prove nothing either way; the freeze is the hold."""
    monkeypatch.setattr("harness.response.pod_evidence.collect_pod", lambda *a, **k: types.SimpleNamespace(
        path=tmp_path / "p", sha256="", complete=True, missing=(), indicators=Indicators()))
    session = PodSession()
    session.enforced = False  # were it probed, the connection would open
    hold = session.hold_pod

    def host_network_hold(ref: str, cordon: bool = False) -> Record:
        record = hold(ref, cordon)
        record.before["host_network"] = True
        return record

    session.hold_pod = host_network_hold  # type: ignore[method-assign]
    result = Responder(session, [ESCAPE], Window(), tmp_path).respond(
        [alert("escape.tool", obj="pod:uid-1")], [], [], 0.0)
    assert result is not None and result.contained and result.passed, result
    assert not [c for c in session.calls if c.startswith("probe")]
    assert any("(hostNetwork): no NetworkPolicy applies" in c for c in result.checks)


def test_a_pod_still_cut_off_after_release_is_not_released(no_settle, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("harness.response.pod_evidence.collect_pod", lambda *a, **k: types.SimpleNamespace(
        path=tmp_path / "p", sha256="", complete=True, missing=(), indicators=Indicators()))
    session = PodSession()
    session.reopens = False
    result = Responder(session, [EGRESS], Window(), tmp_path).respond(
        [alert("net.egress", obj="pod:uid-1")], [], [], 0.0)
    assert result is not None and result.contained and not result.released
    assert any("198.18.240.10:53 still fails" in c for c in result.release_checks)
    assert session.calls.count("probe 198.18.240.10:53") == 1 + 3  # held once, then three tries back


def test_a_pod_whose_containers_still_act_after_the_freeze_is_not_contained(no_settle, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("harness.response.pod_evidence.collect_pod", lambda *a, **k: types.SimpleNamespace(
        path=tmp_path / "p", sha256="", complete=True, missing=(), indicators=Indicators()))
    late = [{"event.dataset": "linux.process", "event.category": "process", "container.id": CID}]
    result = Responder(PodSession(), [EGRESS], Window(late), tmp_path).respond(
        [alert("net.egress", obj="pod:uid-1")], [], [], 0.0)
    assert result is not None and not result.contained and not result.passed
    assert any("saw 1 new process" in c for c in result.checks)
    assert not any("cordon" in c for c in result.checks)  # an egress playbook does not cordon
