"""Indicators from a bundle's members, and the cross-reference that finds the other containers
touching them (and does not relate containers by names every image ships)."""

from __future__ import annotations

import hashlib
import json

import pytest

from harness.response.evidence import read_members
from harness.response.indicators import (
    Indicators,
    cross_reference,
    indicators_of,
    is_generic_name,
    is_generic_path,
)
from harness.response.window import EventWindow
from tests.unit.test_response_evidence import CID, PAYLOAD, run
from tests.unit.test_response_window import exec_event, fim_event, flow_event, nat_event, tcp_event

SINK = "198.19.0.10"
A, B, C, D, E = (ch * 64 for ch in "abcde")
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _lines(*events: dict) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def contents() -> dict[str, bytes]:
    return {
        "events.jsonl": _lines(exec_event(A, exe="/tmp/kworker"), exec_event(A, exe="/usr/bin/python3"),
                               tcp_event(A), nat_event(A, to_ip="198.19.0.11", to_port="8080"),
                               fim_event(A, sha="cd" * 32),
                               tcp_event(A, dest="127.0.0.11", port=53)) + b"not json\n",
        "flows.json": json.dumps([
            {"destination": f"{SINK}:443/tcp", "direction": "egress", "count": 3},
            {"destination": "198.18.0.9:5432/tcp", "direction": "egress", "count": 1},
            {"destination": "198.19.0.20:8080/tcp", "direction": "ingress", "count": 1},  # called, not calling
            {"destination": "127.0.0.11:53/udp", "direction": "egress", "count": 9},  # the embedded DNS
        ]).encode(),
        "dropped-files.json": json.dumps({"files": [{"path": "/tmp/kworker", "sha256": SHA, "size": 20},
                                                    {"path": "/dev/x", "skipped": "a device"}]}).encode(),
        "processes.json": json.dumps({"processes": [
            {"pid": 1, "name": "sleep", "executable": "/usr/bin/sleep", "user": "root"},
            {"pid": 2, "name": "kworker", "executable": "/tmp/kworker", "user": "svc"}]}).encode(),
        "inspect.json": json.dumps({"Config": {"User": "svc"}}).encode(),
        "diff.json": b"{broken",
    }


def test_indicators_are_extracted_from_every_member_that_holds_some():
    found = indicators_of(contents())
    assert found.destinations == ("198.18.0.9:5432/tcp", "198.19.0.10:443/tcp", "198.19.0.11:8080/tcp")
    assert found.sha256 == tuple(sorted([SHA, "cd" * 32]))
    assert found.executables == ("/tmp/kworker", "/usr/bin/python3", "/usr/bin/sleep")
    assert found.process_names == ("kworker", "python3", "sleep")
    assert found.users == ("root", "svc")
    assert Indicators.from_dict(json.loads(json.dumps(found.to_dict()))) == found
    # Lab.plant's vocabulary, for comparing with what a scenario planted
    assert found.hashes == found.sha256 and found.processes == found.executables
    assert {f"sha256:{SHA}", f"destination:{SINK}:443/tcp", "process:/tmp/kworker"} <= found.planted_form()


def test_the_empty_files_hash_is_no_indicator():
    empty = hashlib.sha256(b"").hexdigest()
    found = indicators_of({"dropped-files.json": json.dumps({"files": [{"path": "/run/lock", "sha256": empty}]})
                           .encode()})
    assert found.sha256 == ()
    w = EventWindow()
    w.tap(fim_event(B, sha=empty))
    assert cross_reference(Indicators(sha256=(empty,)), w, exclude_container=A) == []


def test_a_bundle_without_members_has_no_indicators():
    assert indicators_of({}) == Indicators()
    assert indicators_of({"flows.json": b"null", "processes.json": b"[]", "dropped-files.json": b"{}"}) == Indicators()


def test_a_bundles_own_indicators_are_those_of_its_members(tmp_path):
    bundle = run(tmp_path)
    assert indicators_of(read_members(bundle.path)) == bundle.indicators
    assert SHA in bundle.indicators.sha256
    assert f"{SINK}:443/tcp" in bundle.indicators.destinations
    assert "svc" in bundle.indicators.users


@pytest.mark.parametrize(("name", "generic"), [("sh", True), ("python3", True), ("python3.11", True),
                                               ("sleep", True), ("cat", True), ("curl", True), ("kworker", False),
                                               ("syncd", False), ("nginx", False)])
def test_generic_names(name, generic):
    assert is_generic_name(name) is generic


@pytest.mark.parametrize(("path", "generic"), [("/bin/sh", True), ("/usr/bin/python3", True),
                                               ("/usr/lib/python3.11/python3.11", True), ("/tmp/sh", False),
                                               ("/dev/shm/python3", False), ("/usr/local/bin/syncd", False)])
def test_generic_paths(path, generic):
    assert is_generic_path(path) is generic


def window() -> EventWindow:
    window = EventWindow()
    events = [
        # A: the bundle's own container
        exec_event(A, exe="/tmp/kworker"), tcp_event(A), flow_event(A),
        # B: calls the same destination (as the packet sensor saw it)
        exec_event(B, exe="/usr/bin/python3"), flow_event(B, flow_id="fb"),
        # C: only generic programs, the embedded DNS, and a database nobody else called
        exec_event(C, exe="/usr/bin/python3"), exec_event(C, exe="/bin/sh"), exec_event(C, exe="/usr/bin/sleep"),
        tcp_event(C, dest="127.0.0.11", port=53), tcp_event(C, dest="198.18.0.77", port=5432),
        # D: runs a program of the same non-generic path, and a FIM hash of the dropped file
        exec_event(D, exe="/tmp/kworker"), fim_event(D, sha=SHA),
        # E: the sinkhole: it *accepted* the connection to the destination, it did not call it
        tcp_event(E, action="connection_accepted", direction="ingress"),
    ]
    for event in events:
        window.tap(event)
    return window


def test_cross_reference_finds_the_containers_that_touched_the_indicators():
    indicators = Indicators(destinations=(f"{SINK}:443/tcp", "127.0.0.11:53/tcp"), sha256=(SHA,),
                            executables=("/tmp/kworker", "/usr/bin/python3", "/bin/sh", "/usr/bin/sleep"),
                            process_names=("kworker", "python3", "sh", "sleep"), users=("root",))
    related = {r.container_id: r for r in cross_reference(indicators, window(), exclude_container=A[:12])}
    assert set(related) == {B, D}, "A is excluded; C shares only generic names and loopback; E only accepted"
    assert related[B].matched == [f"destination:{SINK}:443/tcp"]
    assert related[D].matched == ["executable:/tmp/kworker", "process.name:kworker", f"sha256:{SHA}"]
    assert related[D].events == 2 and related[B].container_name == "app-1"
    ordered = cross_reference(indicators, window(), exclude_container=A)
    assert [r.container_id for r in ordered] == [D, B]  # most matches first
    assert ordered[0].to_dict()["matched"] == related[D].matched


def test_generic_names_alone_relate_nobody():
    generic = Indicators(executables=("/usr/bin/python3", "/bin/sh", "/usr/bin/sleep"),
                         process_names=("python3", "sh", "sleep", "cat", "bash"))
    assert cross_reference(generic, window(), exclude_container=A) == []


def test_a_generic_name_dropped_outside_the_system_directories_still_relates():
    w = EventWindow()
    w.tap(exec_event(B, exe="/tmp/sh"))
    w.tap(exec_event(C, exe="/bin/sh"))
    related = cross_reference(Indicators(executables=("/tmp/sh",), process_names=("sh",)), w, exclude_container=A)
    assert [(r.container_id, r.matched) for r in related] == [(B, ["executable:/tmp/sh"])]


def test_a_redirect_to_the_same_destination_relates():
    w = EventWindow()
    w.tap(nat_event(B, to_ip=SINK, to_port="443"))
    related = cross_reference(Indicators(destinations=(f"{SINK}:443/tcp",)), w, exclude_container=CID)
    assert [r.container_id for r in related] == [B]


def test_a_container_that_called_the_bundles_own_endpoint_is_related_as_its_client() -> None:
    from harness.response.indicators import Indicators, cross_reference
    from harness.response.window import EventWindow

    relay, client, stranger = "r" * 64, "c" * 64, "s" * 64
    window = EventWindow()
    for container, dest in ((client, "198.18.0.7"), (stranger, "198.18.0.9")):
        window.tap({"event.module": "linux", "event.dataset": "tracefs.tcp", "event.category": "network",
                    "container.id": container, "destination.ip": dest, "destination.port": 8443,
                    "network.direction": "egress", "event.created": 10.0})
    found = cross_reference(Indicators(served=("198.18.0.7:8443/tcp",)), window, relay)
    assert [(r.container_id, r.matched) for r in found] == [(client, ["served:198.18.0.7:8443/tcp"])]


def test_a_program_run_from_a_descriptor_relates_nothing() -> None:
    from harness.response.indicators import is_generic_name, is_generic_path

    assert is_generic_path("/dev/fd/6") and is_generic_path("/proc/self/fd/3") and is_generic_name("6")
    assert not is_generic_path("/tmp/fd/6") and not is_generic_name("syncd")
