"""The responder's decisions and proofs, with the lab and the evidence faked at their boundary."""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import harness.response.responder as responder_module
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


@dataclass
class FakeSession:
    """The LabSession surface the responder uses, with a container that can be moved and frozen."""

    movable: bool = True
    networks_now: dict[str, str] = field(default_factory=lambda: {"stw-lan": "198.18.0.7", "stw-inet": "198.19.0.9"})
    state: dict[str, Any] = field(default_factory=lambda: {"Running": True, "Paused": False, "Status": "running"})
    records: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    contained: bool = False

    def __post_init__(self) -> None:
        self.sinkhole_endpoint = types.SimpleNamespace(address=SINK, ports=(443,))
        self.networks = {"inet": types.SimpleNamespace(name="stw-inet")}
        api = types.SimpleNamespace(inspect_container=self._inspect)
        self.engine = types.SimpleNamespace(client=types.SimpleNamespace(api=api))

    def _inspect(self, _cid: str) -> dict[str, Any]:
        networks = {} if self.contained and not self.state["Paused"] else self.networks_now
        return {"NetworkSettings": {"Networks": {n: {"IPAddress": a} for n, a in networks.items()}},
                "State": dict(self.state)}

    def quarantine(self, ref: str) -> Record:
        self.calls.append(f"quarantine {ref}")
        if not self.movable:
            raise LabError("it shares the host's network namespace")
        self.contained = True
        return Record(before={"networks": {n: {"address": a} for n, a in self.networks_now.items()}})

    def pause(self, ref: str) -> Record:
        self.calls.append(f"pause {ref}")
        self.state.update(Paused=True, Status="paused")
        return Record(before={"state": "running"})

    def release(self, record: Record) -> Record:
        self.calls.append("release")
        self.contained = False
        self.state.update(Paused=False, Status="running")
        record.released_at = 200.0
        return record

    def can_connect(self, ref: str, address: str, port: int) -> bool:
        self.calls.append(f"probe {address}:{port}")
        return not self.contained

    def sinkhole_records(self) -> list[dict[str, Any]]:
        return list(self.records)


@pytest.fixture
def no_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(responder_module, "SETTLE_S", 0.0)


@pytest.fixture
def fake_evidence(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    indicators = Indicators(destinations=(f"{SINK}:443/tcp",), executables=("/usr/bin/curl",))

    def collect(client: Any, container_id: str, out_dir: Path, **kw: Any) -> Any:
        calls.append({"container": container_id, **kw})
        return types.SimpleNamespace(path=out_dir / "b.tar.gz", sha256="f" * 64, complete=True, missing=(),
                                     indicators=indicators)

    def cross_reference(_indicators: Any, _window: Any, exclude: str) -> list[Any]:
        return [types.SimpleNamespace(container_id="b" * 64, matched=[f"destination:{SINK}:443/tcp"])]

    monkeypatch.setattr("harness.response.evidence.collect", collect, raising=False)
    monkeypatch.setattr("harness.response.indicators.cross_reference", cross_reference, raising=False)
    return calls


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


def test_a_swarm_task_is_not_contained_but_its_evidence_is_collected(no_settle, fake_evidence, tmp_path) -> None:
    session = FakeSession()
    result = Responder(session, [EGRESS], object(), tmp_path).respond(
        [alert("net.egress")], [], ["service:xyz", f"container:{CID}"], 0.0)
    assert result is not None and result.action == "none" and result.passed
    assert not [c for c in session.calls if c.startswith(("quarantine", "pause"))] and fake_evidence
