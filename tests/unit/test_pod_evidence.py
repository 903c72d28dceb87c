"""A pod's evidence bundle: what the API server, the kubelet, the node's containerd, the window, the
packet ring and the audit log have of it, one archive with a manifest; a part that fails is a gap."""

from __future__ import annotations

import hashlib
import json
import types
from pathlib import Path
from typing import Any

from detectors.sensors.packet_ring import PacketRing
from harness.response.evidence import read_members, verify
from harness.response.pod_evidence import collect_pod
from tests.unit.pod_tree import Node, overlay_tree

CID = "0" * 64
IP = "198.18.232.5"


class Cluster:
    def __init__(self, audit_log: Path | None, logs_fail: bool = False, node: Node | None = None) -> None:
        self.audit_log, self.logs_fail, self.node = audit_log, logs_fail, node

    def run(self, *args: str, **_: Any) -> Any:
        if args[0] == "logs":
            if self.logs_fail:
                from lab import LabError

                raise LabError("kubectl logs failed (1): container is paused")
            return types.SimpleNamespace(stdout="2026-11-30T17:00:00Z hello\n")
        return types.SimpleNamespace(stdout=json.dumps({"metadata": {"name": "w", "namespace": "default"}}))

    def node_exec(self, node: str, command: list[str]) -> Any:
        if command[3:5] == ["task", "ls"]:
            return types.SimpleNamespace(exit_code=0, output=f"TASK PID STATUS\n{CID} 42 PAUSED\n")
        if command[0] != "ctr":  # the container's diff and files, on its node
            if self.node is None:
                return types.SimpleNamespace(exit_code=1, output="crictl: no such container")
            return self.node.node_exec(node, command)
        return types.SimpleNamespace(exit_code=0, output="PID INFO\n42 -\n")


class Window:
    def events_for(self, container: str, since: float, until: float) -> list[dict[str, Any]]:
        return [{"event.id": "e1", "event.created": 120.0, "event.dataset": "linux.process", "container.id": container,
                 "process.executable": "/tmp/kworker"}]


def record() -> Any:
    return types.SimpleNamespace(ref="pod:d9331dc5-7a41", before={"namespace": "default", "name": "w",
                                 "node": "kind-worker", "containers": [CID], "ip": IP})


def audit_file(tmp_path: Path) -> Path:
    path = tmp_path / "audit.log"
    entries = [{"verb": "create", "objectRef": {"resource": "pods", "namespace": "default", "name": "w"}},
               {"verb": "create", "objectRef": {"resource": "pods", "namespace": "default", "name": "w",
                                                "subresource": "exec"}},
               {"verb": "get", "objectRef": {"resource": "pods", "namespace": "other", "name": "w"}},
               {"verb": "get", "objectRef": {"resource": "configmaps", "namespace": "default", "name": "w"}}]
    path.write_text("".join(json.dumps(e) + "\n" for e in entries) + "not json w\n")
    return path


def test_a_pods_bundle_holds_each_source_and_its_checksums(tmp_path: Path) -> None:
    ring = PacketRing()
    ring.add(110.0, b"\x00" * 14 + b"frame", IP, "198.19.0.10")
    bundle = collect_pod(Cluster(audit_file(tmp_path), node=overlay_tree(tmp_path / "node")), record(),
                         tmp_path / "out", window=Window(),
                         alert={"rule_id": "stowaway.host.masquerade-name", "object": f"container:{CID}"},
                         since=100.0, until=200.0, packets=ring)
    assert verify(bundle.path) == [] and bundle.complete and bundle.missing == []
    members = read_members(bundle.path)
    assert set(members) == {"pod.json", "logs.txt", "tasks.json", "events.jsonl", "flows.json", "alert.json",
                            "traffic.pcap", "audit.jsonl", "diff.json", "dropped-files.json", "indicators.json",
                            "manifest.json"}
    audit = [json.loads(line) for line in members["audit.jsonl"].splitlines()]
    assert [(a["verb"], a["objectRef"].get("subresource")) for a in audit] == [("create", None), ("create", "exec")]
    assert json.loads(members["tasks.json"])["tasks"] == {CID: "PAUSED"}
    assert b"/tmp/kworker" in members["events.jsonl"] and members["traffic.pcap"].count(b"frame") == 1
    assert "/tmp/kworker" in json.loads(members["indicators.json"])["executables"]
    diff = {e["path"]: e["change"] for e in json.loads(members["diff.json"])[CID]}
    assert diff["/tmp/kworker"] == "added" and diff["/etc/motd"] == "deleted"
    dropped = {f["path"]: f for f in json.loads(members["dropped-files.json"])["files"]}
    # Hashed as the container sees it (on kind the host's exec events do not know a pod's layers, so
    # the program it ran is listed as added rather than as executed from outside its image).
    assert dropped["/tmp/kworker"]["change"] == "added"
    assert dropped["/tmp/kworker"]["sha256"] == hashlib.sha256(b"\x7fELF payload").hexdigest()
    assert dropped["/tmp/kworker"]["container"] == CID
    assert dropped["/tmp/kworker"]["sha256"] in json.loads(members["indicators.json"])["sha256"]


def test_a_member_that_fails_is_a_gap_and_no_audit_log_is_one_by_nature(tmp_path: Path) -> None:
    bundle = collect_pod(Cluster(None, logs_fail=True), record(), tmp_path, window=Window(),
                         alert={"rule_id": "r", "object": "pod:x"}, since=0.0, until=1.0)
    assert not bundle.complete
    assert "logs.txt: LabError: kubectl logs failed (1): container is paused" in bundle.missing
    assert any(m.startswith("audit.jsonl: the cluster's audit log") for m in bundle.missing)
    assert f"diff.json: {CID[:12]}: LabError: crictl inspect {CID[:12]} on kind-worker failed (1): " \
        "crictl: no such container" in bundle.missing
