"""The watch's control socket and its on-request responses, with the lab faked at its boundary."""

from __future__ import annotations

import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from harness.response.on_request import OnRequest
from harness.response.playbooks import Playbook
from harness.watch_control import MAX_REQUEST, ControlError, ControlServer, ask, choose_watch, socket_path
from lab import LabPaths
from lab.bookkeeping import RunRecord
from tests.unit.test_responder import CID, EGRESS, FakeSession, alert


@pytest.fixture
def paths(tmp_path: Path) -> LabPaths:
    return LabPaths(state=tmp_path / "s", runtime=tmp_path / "r")


def serve(paths: LabPaths, handler: Any, run_id: str = "20990101-000000-aaaaaa") -> ControlServer:
    import os
    import time

    RunRecord(run_id=run_id, pid=os.getpid(), started_at=time.time()).save(paths)  # a live watch's record
    server = ControlServer(socket_path(paths, run_id), handler)
    server.start()
    return server


def test_a_request_is_answered_and_the_socket_is_roots_only(paths: LabPaths) -> None:
    server = serve(paths, lambda request: {"ok": True, "echo": request})
    try:
        assert stat.S_IMODE(server.path.stat().st_mode) == 0o600
        assert ask(choose_watch(paths, None), {"op": "status"}) == {"ok": True, "echo": {"op": "status"}}
    finally:
        server.stop()
    assert not server.path.exists()
    with pytest.raises(ControlError, match="no `stowaway watch` is running"):
        choose_watch(paths, None)


def test_bad_requests_get_an_answer_and_the_watch_goes_on(paths: LabPaths) -> None:
    def handler(request: dict[str, Any]) -> dict[str, Any]:
        if request.get("op") == "boom":
            raise RuntimeError("engine gone")
        return {"ok": True}

    server = serve(paths, handler)
    try:
        for raw, error in ((b"not json\n", "not JSON"), (b"[1, 2]\n", "one JSON object"),
                           (b"x" * (MAX_REQUEST + 10), "over"), (b'{"op": "boom"}\n', "RuntimeError: engine gone")):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(str(server.path))
                sock.sendall(raw)
                assert error in sock.recv(4096).decode()
        assert ask(server.path, {"op": "fine"}) == {"ok": True}
    finally:
        server.stop()


def test_a_dead_watchs_socket_is_not_a_watch(paths: LabPaths) -> None:
    server = serve(paths, lambda r: {"ok": True}, "run-dead")
    try:
        RunRecord(run_id="run-dead", pid=2**22 + 7, started_at=0.0).save(paths)  # its process is gone
        with pytest.raises(ControlError, match="no `stowaway watch` is running"):
            choose_watch(paths, None)
    finally:
        server.stop()


def test_several_watches_must_be_named(paths: LabPaths) -> None:
    one, two = serve(paths, lambda r: {"ok": True}, "run-a"), serve(paths, lambda r: {"ok": True}, "run-b")
    try:
        with pytest.raises(ControlError, match="several watches"):
            choose_watch(paths, None)
        assert choose_watch(paths, "run-b").name == "run-b.sock"
        with pytest.raises(ControlError, match="no such watch"):
            choose_watch(paths, "run-c")
    finally:
        one.stop()
        two.stop()


class Live(FakeSession):
    """The LiveSession surface on top of the responder's fake lab."""

    run_id = "20990101-000000-aaaaaa"

    def focus(self, ref: str) -> str:
        return "lab-run"

    def service_refs(self) -> list[str]:
        return list(self.services)

    def close(self) -> list[str]:
        return []


LOGGING = Playbook(name="investigate-logging", triggers=("log.off",), mode="on-request", contain="none",
                   collect=True)


def on_request(tmp_path: Path, live: Live) -> OnRequest:
    return OnRequest(live, [EGRESS, LOGGING], window=object(), evidence_dir=tmp_path,  # type: ignore[arg-type]
                     started_at=0.0)


def test_respond_keeps_it_contained_until_release_proves_it_back(no_settle, fake_evidence, tmp_path) -> None:
    live = Live()
    handler = on_request(tmp_path, live)
    number = handler.number(alert("net.egress"))
    answer = handler.handle({"op": "respond", "alert": number})
    assert answer["ok"] and answer["held"] and answer["response"]["contained"], answer
    assert live.calls[0] == f"quarantine container:{CID}" and "release" not in live.calls  # still held
    assert handler.handle({"op": "status"})["held"][0]["object"] == f"container:{CID}"
    again = handler.handle({"op": "respond", "alert": number})
    assert not again["ok"] and "contained already" in again["error"]
    back = handler.handle({"op": "release", "object": f"container:{CID[:12]}"})
    assert back["ok"] and back["released"] and "release" in live.calls
    assert not handler.handle({"op": "release", "object": f"container:{CID}"})["ok"]  # nothing held now


def test_the_watch_stopping_releases_what_it_holds(no_settle, fake_evidence, tmp_path) -> None:
    live = Live()
    handler = on_request(tmp_path, live)
    handler.handle({"op": "respond", "alert": handler.number(alert("net.egress"))})
    said = handler.close()
    assert said and said[0].startswith(f"released container:{CID} (proved")


def test_an_on_request_playbook_answers_a_rule_no_auto_playbook_has(no_settle, fake_evidence, tmp_path) -> None:
    handler = on_request(tmp_path, Live())
    answer = handler.handle({"op": "respond", "alert": handler.number(alert("log.off"))})
    assert answer["ok"] and answer["response"]["playbook"] == "investigate-logging"
    assert answer["response"]["action"] == "none" and not answer["held"]


@pytest.mark.parametrize(("request_", "error"), [
    ({"op": "respond", "alert": 7}, "no alert 7"),
    ({"op": "respond", "alert": 1, "playbook": "nope"}, "no playbook 'nope'"),
    ({"op": "release", "object": "abc"}, "a ref such as"),
    ({"op": "dance"}, "one of respond, release, explain, status"),
])
def test_requests_it_cannot_do_are_refused_with_why(tmp_path, request_: dict[str, Any], error: str) -> None:
    handler = on_request(tmp_path, Live())
    handler.number(alert("other.rule"))
    answer = handler.handle(request_)
    assert not answer["ok"] and error in answer["error"]


def test_an_alert_no_playbook_answers_says_to_name_one(tmp_path) -> None:
    handler = on_request(tmp_path, Live())
    answer = handler.handle({"op": "respond", "alert": handler.number(alert("other.rule"))})
    assert not answer["ok"] and "name one with --playbook" in answer["error"]
