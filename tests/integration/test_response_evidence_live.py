"""The evidence bundle and the indicator cross-reference against the real lab engine and sensors.

A container on the lab LAN and internet writes a payload of known bytes and calls the sinkhole; a
second container calls the same sinkhole port. With an EventWindow tapping the session's monitor
from the start, the first container's bundle must verify against its own manifest, hold the
payload's sha256 and the sinkhole destination among its indicators and flows, keep the sinkhole's
lines from its address, and the cross-reference must find the second container, and neither the
first one nor the sinkhole (which accepted those connections, it did not make them).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time

import pytest

from harness.response.evidence import collect, read_members, verify
from harness.response.indicators import cross_reference
from harness.response.window import EventWindow, destination_of
from lab import WorkloadSpec

pytestmark = pytest.mark.integration

PAYLOAD_PATH = "/usr/local/bin/cache-sync"
PORT = 443
CALL = ("import socket,sys\n"
        "for _ in range(int(sys.argv[2])):\n"
        "    s=socket.create_connection((sys.argv[1],443),timeout=3)\n"
        "    s.sendall(b'GET /status HTTP/1.1\\r\\nHost: cdn-status.example\\r\\n\\r\\n')\n"
        "    s.recv(256); s.close()\n")


def _calls_seen(window: EventWindow, container_id: str, dest: str) -> bool:
    return any(destination_of(e) == dest for e in window.events_for(container_id))


def test_bundle_holds_the_planted_indicators_and_cross_reference_finds_the_second_workload(
        lab_session, lab, monitor, tmp_path):
    window = EventWindow()
    tap_failures = monitor.tap_failures
    monitor.add_tap(window.tap)
    try:
        sink = lab.sinkhole.address
        dest = f"{sink}:{PORT}/tcp"
        payload = os.urandom(4096)  # known bytes: their sha256 is the indicator the bundle must hold
        first = lab.deploy(WorkloadSpec(role="app", networks=("lan", "inet")))
        second = lab.deploy(WorkloadSpec(role="worker", networks=("lan", "inet")))
        lab.exec(first, "sh", "-c", f"echo '{base64.b64encode(payload).decode()}' | base64 -d > {PAYLOAD_PATH}")
        lab.action("the first workload calls out")
        lab.exec(first, "python3", "-c", CALL, sink, "3")
        lab.exec(second, "python3", "-c", CALL, sink, "1")
        addresses = {w.id: w.addresses["inet"] for w in (first, second)}
        lab.wait_for(lambda: all(lab.sinkhole_records(peer=a) for a in addresses.values()), timeout=15,
                     what="both workloads' calls to reach the sinkhole")
        lab.wait_for(lambda: all(_calls_seen(window, cid, dest) for cid in addresses), timeout=20,
                     what="the sensors to report both workloads' connections")
        alerts = monitor.alerts_for([first.ref], since=lab.started_at)
        alert = alerts[0].to_dict() if alerts else {
            "rule_id": "test.response.manual", "object": first.ref, "first_seen": lab.actions[0].at,
            "title": "collected on request"}

        started = time.perf_counter()
        bundle = collect(lab_session.engine.client, first.id, tmp_path, window=window, alert=alert,
                         since=lab.started_at, sinkhole_records=lab.sinkhole_records())
        elapsed = time.perf_counter() - started
        print(f"\nevidence: {bundle.path.name} {bundle.size} bytes in {elapsed:.3f} s; alert {alert['rule_id']}; "
              f"missing {bundle.missing}; indicators {bundle.indicators.to_dict()}")

        assert verify(bundle.path) == []
        contents = read_members(bundle.path)
        manifest = json.loads(contents["manifest.json"])
        for member in manifest["members"]:
            assert hashlib.sha256(contents[member["name"]]).hexdigest() == member["sha256"], member["name"]
        assert bundle.complete, bundle.missing

        sha = hashlib.sha256(payload).hexdigest()
        assert sha in bundle.indicators.sha256
        dropped = {f["path"]: f for f in json.loads(contents["dropped-files.json"])["files"]}
        assert dropped[PAYLOAD_PATH]["sha256"] == sha and dropped[PAYLOAD_PATH]["size"] == len(payload)

        assert dest in bundle.indicators.destinations
        flows = {f["destination"]: f for f in json.loads(contents["flows.json"])}
        assert flows[dest]["direction"] == "egress" and flows[dest]["count"] >= 1
        sinkhole = [json.loads(line) for line in contents["sinkhole.jsonl"].splitlines()]
        assert sinkhole and {r["peer"] for r in sinkhole} == {addresses[first.id]}
        assert sum(1 for r in sinkhole if r["port"] == PORT) >= 3
        processes = json.loads(contents["processes.json"])
        assert processes["processes"], "the process tree is empty"

        related = {r.container_id: r for r in cross_reference(bundle.indicators, window, exclude_container=first.id)}
        assert second.id in related, f"the second workload was not found: {[r.to_dict() for r in related.values()]}"
        assert f"destination:{dest}" in related[second.id].matched
        assert first.id not in related
        assert lab_session.sinkhole is None or lab_session.sinkhole.id not in related
        assert monitor.tap_failures == tap_failures, "the window's tap raised and was removed"
    finally:
        window.close()  # the Monitor keeps its taps; a closed window costs nothing
        remove = getattr(monitor, "remove_tap", None)
        if remove is not None:
            remove(window.tap)
