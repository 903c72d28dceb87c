"""Holding a Kubernetes pod (label, NetworkPolicy, freeze on its node, cordon) and giving it back,
against a stand-in cluster at the kubectl / node boundary."""

from __future__ import annotations

import copy
import json
import types
from typing import Any

import pytest

from lab import LabError, pod_hold
from lab.quarantine import release_journalled

UID = "d9331dc5-7a41-4654-9e9e-635af6905ba1"
CID = "0" * 64


class Cluster:
    """kubectl (run/get/apply) and the node's ctr (node_exec), keeping the state they change."""

    def __init__(self, pause_fails: bool = False) -> None:
        self.labels: dict[str, str] = {"app": "worker"}
        self.policies: set[str] = set()
        self.unschedulable = False
        self.tasks = {CID: "RUNNING"}
        self.pause_fails = pause_fails
        self.calls: list[str] = []
        self.probe_answer = types.SimpleNamespace(exit_code=0, output="")

    def pod(self) -> dict[str, Any]:
        return {"metadata": {"name": "worker-1", "namespace": "default", "uid": UID, "labels": dict(self.labels)},
                "spec": {"nodeName": "kind-worker"},
                "status": {"podIP": "198.18.232.5", "containerStatuses": [
                    {"containerID": f"containerd://{CID}", "state": {"running": {}}}]}}

    def run(self, *args: str, **_: Any) -> Any:
        self.calls.append(" ".join(args[:2]))
        if args[:2] == ("get", "pods"):
            return types.SimpleNamespace(stdout=json.dumps({"items": [self.pod()]}))
        if args[0] == "label":
            key, _, value = args[-2 if args[-1] == "--overwrite" else -1].partition("=")
            if key.endswith("-"):
                self.labels.pop(key[:-1], None)
            else:
                self.labels[key] = value
        elif args[0] == "cordon":
            self.unschedulable = True
        elif args[0] == "uncordon":
            self.unschedulable = False
        elif args[:2] == ("delete", "networkpolicy"):
            self.policies.discard(args[4])
        return types.SimpleNamespace(stdout="", returncode=0)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        if kind == "node":
            return {"spec": {"unschedulable": self.unschedulable}}
        if kind == "pod":  # worker-1 is the pod; worker-<n>, other pods on its node (_another)
            return self.pod() if name == "worker-1" else _another(self, int(name.rsplit("-", 1)[1]))
        if kind == "networkpolicy":
            return {"metadata": {"name": name}} if name in self.policies else None
        return None

    def apply(self, manifest: dict[str, Any]) -> list[dict[str, Any]]:
        assert manifest["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert manifest["spec"]["podSelector"]["matchLabels"] == {pod_hold.QUARANTINE_LABEL: "run-1"}
        self.policies.add(manifest["metadata"]["name"])
        return [copy.deepcopy(manifest)]

    def node_exec(self, node: str, command: list[str]) -> Any:
        if command[0] == "crictl":
            return types.SimpleNamespace(exit_code=0, output='W0101 warning\n{"info": {"pid": 4242}}')
        if command[0] == "nsenter":  # the probe: answered as the node's shell would
            assert command[:4] == ["nsenter", "-t", "4242", "-n"]
            return self.probe_answer
        verb = command[3:5]
        if verb == ["task", "ls"]:
            rows = "".join(f"{c}    4242    {s}\n" for c, s in self.tasks.items())
            return types.SimpleNamespace(exit_code=0, output="TASK    PID    STATUS\n" + rows)
        if verb == ["task", "pause"]:
            if self.pause_fails:
                return types.SimpleNamespace(exit_code=1, output="ctr: freezer busy")
            self.tasks[command[5]] = "PAUSED"
        if verb == ["task", "resume"]:
            self.tasks[command[5]] = "RUNNING"
        return types.SimpleNamespace(exit_code=0, output="")


def test_a_pod_is_labelled_denied_frozen_and_its_node_cordoned_then_given_back() -> None:
    cluster = Cluster()
    journal: list[dict[str, Any]] = []
    pod = pod_hold.find_pod(cluster, f"container:{CID[:12]}")
    assert pod is not None and pod["metadata"]["uid"] == UID
    record = pod_hold.hold_pod(cluster, pod, "run-1", cordon=True, journal=lambda r: journal.append(r.to_dict()))
    assert journal and journal[0]["action"] == "hold-pod" and journal[0]["before"]["node"] == "kind-worker"
    assert journal[0]["before"]["host_network"] is False
    assert record.after["tasks"] == {CID: "PAUSED"} and record.after["cordoned"] and record.at > 0
    assert cluster.labels[pod_hold.QUARANTINE_LABEL] == "run-1" and cluster.policies == {f"stw-hold-{UID[:8]}"}
    back = pod_hold.release(cluster, record)
    assert back["tasks"] == {CID: "RUNNING"} and not back["node_unschedulable"]
    assert not back["policy_left"] and not back["labelled"] and back["problems"] == []
    assert cluster.labels == {"app": "worker"}


def test_a_node_cordoned_before_stays_cordoned_after() -> None:
    cluster = Cluster()
    cluster.unschedulable = True
    record = pod_hold.hold_pod(cluster, cluster.pod(), "run-1", cordon=True)
    assert record.before["node_unschedulable"] and "uncordon" not in cluster.calls
    assert pod_hold.release(cluster, record)["node_unschedulable"] is True
    assert not any(call.startswith(("cordon", "uncordon")) for call in cluster.calls)


def _another(cluster: Cluster, n: int) -> dict[str, Any]:
    pod = cluster.pod()
    pod["metadata"].update(name=f"worker-{n}", uid=f"{n}{UID[1:]}")
    return pod


def test_holds_on_one_node_share_its_cordon_and_the_last_escape_gives_it_back() -> None:
    cluster = Cluster()
    escape = pod_hold.hold_pod(cluster, cluster.pod(), "run-1", cordon=True)
    payload = pod_hold.hold_pod(cluster, _another(cluster, 2), "run-1")  # no cordon of its own
    second = pod_hold.hold_pod(cluster, _another(cluster, 3), "run-1", cordon=True)
    # The node's "before" is its state before the lab's holds, whoever came second.
    assert not payload.before["node_unschedulable"] and not second.before["node_unschedulable"]
    assert cluster.calls.count("cordon kind-worker") == 1
    back = pod_hold.release(cluster, escape)
    assert back["node_unschedulable"] and back["cordon_holders"] == 1  # the second escape still needs it
    assert pod_hold.release(cluster, payload)["node_unschedulable"]
    back = pod_hold.release(cluster, second)
    assert not back["node_unschedulable"] and back["cordon_holders"] == 0
    assert cluster.calls.count("uncordon kind-worker") == 1


def test_a_failed_freeze_undoes_the_label_and_the_policy() -> None:
    cluster = Cluster(pause_fails=True)
    with pytest.raises(LabError, match="freezer busy"):
        pod_hold.hold_pod(cluster, cluster.pod(), "run-1", cordon=True)
    assert cluster.labels == {"app": "worker"} and cluster.policies == set() and not cluster.unschedulable


def test_a_pod_hold_is_left_to_the_cluster_not_the_engine_reaper() -> None:
    cluster = Cluster()
    record = pod_hold.hold_pod(cluster, cluster.pod(), "run-1")
    assert release_journalled(object(), [{"kind": "containment", "record": record.to_dict()}]) == 0


def test_a_pod_deleted_while_held_has_its_frozen_task_resumed_on_release() -> None:
    cluster = Cluster()
    record = pod_hold.hold_pod(cluster, cluster.pod(), "run-1", cordon=True)
    gone = copy.deepcopy(record)
    gone.ref = "pod:" + "f" * len(UID)  # the API server now has another pod under the name
    back = pod_hold.release(cluster, gone)
    assert back["gone"] and cluster.tasks == {CID: "RUNNING"}  # a frozen task of a deleted pod never dies


def test_a_task_the_freezer_could_not_stop_yet_is_resumed_too() -> None:
    cluster = Cluster()
    record = pod_hold.hold_pod(cluster, cluster.pod(), "run-1")
    cluster.tasks[CID] = "PAUSING"
    pod_hold.release(cluster, record)
    assert cluster.tasks == {CID: "RUNNING"}


@pytest.mark.parametrize(("code", "output", "opened"), [
    (0, "", True),
    (124, "", False),  # no answer before the timeout: the enforcer dropped the SYN
    (1, "bash: connect: Connection refused\nbash: line 1: /dev/tcp/198.19.0.10/443: Connection refused", False),
])
def test_a_held_pod_is_probed_from_its_own_network_namespace(code: int, output: str, opened: bool) -> None:
    cluster = Cluster()
    record = pod_hold.hold_pod(cluster, cluster.pod(), "run-1")
    cluster.probe_answer = types.SimpleNamespace(exit_code=code, output=output)
    assert pod_hold.can_connect(cluster, record, "198.19.0.10", 443) is opened


def test_a_probe_that_could_not_run_is_an_error_not_a_refusal() -> None:
    cluster = Cluster()
    record = pod_hold.hold_pod(cluster, cluster.pod(), "run-1")
    cluster.probe_answer = types.SimpleNamespace(exit_code=1, output="nsenter: cannot open /proc/4242/ns/net")
    with pytest.raises(LabError, match="nsenter"):
        pod_hold.can_connect(cluster, record, "198.19.0.10", 443)
    with pytest.raises(LabError, match="outside the lab range"):
        pod_hold.can_connect(cluster, record, "192.0.2.1", 443)
