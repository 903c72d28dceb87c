"""Containment of a Kubernetes pod on the run's kind cluster: label it, deny its traffic with a
NetworkPolicy, freeze its containers on its node, and (for an escape) cordon the node; give it all
back exactly.

What holds, and what does not, on this lab's cluster (lab/kind/README.md):

- the **freeze** holds: each of the pod's containers is paused in its node's containerd
  (``ctr -n k8s.io task pause``, the cgroup freezer), so nothing it runs acts, whatever its network;
  its processes and memory stay for the evidence. It needs the node: the run's own kind cluster,
  whose nodes are containers on the lab engine (a cluster named by STOWAWAY_KUBECONFIG has no node
  the lab can enter, and a pod there is not frozen: the record says so);
- the **quarantine label and NetworkPolicy** (deny all ingress and egress for pods with the label)
  are enforced by the cluster's kube-network-policies (lab/kind/network.py): a new connection to or
  from the pod is dropped, which ``can_connect`` proves by connecting from the pod's own network
  namespace. A connection it had open before the hold is not cut by the policy (the enforcer judges
  a connection's first packet only); the freeze is what stops the pod using it;
- the **cordon** keeps new pods off the node an escape came from; pods already there keep running.

The record keeps what was there before (labels, the node's schedulability) so release undoes only
what the hold did: an uncordon only if the node was schedulable before, a label removed only if the
hold added it. Holds of pods on one node share its cordon (scenarios run in parallel, and two escapes
can come from one worker): the first that needs it cordons the node, the last to let go uncordons it,
and only if the node was schedulable before the first; the node's "before" is its state before the
lab's own holds.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from lab.errors import LabError
from lab.naming import LABEL_PREFIX
from lab.quarantine import HOLD_POD, ContainmentRecord, Journal, check_probe_target

POD_REF = "pod:"
QUARANTINE_LABEL = LABEL_PREFIX + "quarantine"
PAUSE_SETTLE_S = 5.0


@dataclass
class _Cordon:
    lab_made: bool  # the node was schedulable when the first hold came: the lab cordoned it
    holders: set[str] = field(default_factory=set)  # refs of the holds that keep it cordoned


_CORDONS: dict[str, _Cordon] = {}  # node -> the lab's cordon on it, while any hold needs it
_CORDONS_LOCK = threading.Lock()


def _unschedulable(cluster: Any, node: str) -> bool:
    return bool(((cluster.get("node", node) or {}).get("spec") or {}).get("unschedulable"))


def _claim_cordon(cluster: Any, node: str, ref: str) -> None:
    with _CORDONS_LOCK:
        cordon = _CORDONS.get(node)
        if cordon is None:
            cordon = _Cordon(lab_made=not _unschedulable(cluster, node))
            if cordon.lab_made:
                cluster.run("cordon", node)
            _CORDONS[node] = cordon
        cordon.holders.add(ref)


def _drop_cordon(cluster: Any, node: str, ref: str) -> None:
    with _CORDONS_LOCK:
        cordon = _CORDONS.get(node)
        if cordon is None:
            return
        cordon.holders.discard(ref)
        if not cordon.holders:
            del _CORDONS[node]
            if cordon.lab_made:
                cluster.run("uncordon", node)


def _schedulable_before_the_lab(cluster: Any, node: str) -> bool:
    with _CORDONS_LOCK:
        cordon = _CORDONS.get(node)
        return cordon.lab_made if cordon else not _unschedulable(cluster, node)


def _ctr(cluster: Any, node: str, *args: str) -> str:
    result = cluster.node_exec(node, ["ctr", "-n", "k8s.io", *args])
    if result.exit_code != 0:
        raise LabError(f"ctr {' '.join(args)} on {node} failed ({result.exit_code}): {result.output.strip()[-500:]}")
    return str(result.output)


def task_states(cluster: Any, node: str, containers: list[str]) -> dict[str, str]:
    """Each container's task state as the node's containerd reports it (RUNNING, PAUSED, STOPPED, or
    "gone" for one it no longer has)."""
    states = {}
    listing = _ctr(cluster, node, "task", "ls")
    for line in listing.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3:
            states[parts[0]] = parts[2]
    return {c: states.get(c, "gone") for c in containers}


def container_pid(cluster: Any, node: str, container_id: str) -> int:
    """The pid, in its node's PID namespace, of a container's init (``crictl inspect``).

    Raises:
        LabError: the node's runtime does not know the container.
    """
    result = cluster.node_exec(node, ["crictl", "inspect", "-o", "json", container_id])
    out = str(result.output)
    if result.exit_code != 0 or "{" not in out:
        raise LabError(f"crictl inspect {container_id[:12]} on {node} failed ({result.exit_code}): "
                       f"{out.strip()[-300:]}")
    return int(json.loads(out[out.index("{"):])["info"]["pid"])  # after any warning crictl printed


def can_connect(cluster: Any, record: ContainmentRecord, address: str, port: int, timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to ``address``:``port`` opens from the held pod's network namespace:
    a real connect made on its node by a shell that enters only that namespace (through its first
    container's pid), so a frozen pod can be probed without running anything of its own. To the
    node's netfilter the packet is the pod's (it crosses the pod's veth), so the NetworkPolicy
    enforcer judges it like any of the pod's.

    Raises:
        LabError: the address is outside the lab range and loopback, or the node could not run the probe.
    """
    check_probe_target(address, port)
    b = record.before
    pid = container_pid(cluster, b["node"], b["containers"][0])
    wait = f"{max(timeout_s, 0.1):g}"
    result = cluster.node_exec(b["node"], ["nsenter", "-t", str(pid), "-n", "timeout", wait, "bash", "-c",
                                           f"exec 3<>/dev/tcp/{address}/{port}"])
    output = str(result.output)
    if result.exit_code == 0:
        return True
    # No answer before the timeout (a dropped SYN), or bash's own refused/unreachable on /dev/tcp; an
    # exit of 1 from nsenter (no such namespace) is not an answer and raises below.
    if result.exit_code == 124 or (result.exit_code == 1 and "/dev/tcp/" in output):
        return False
    raise LabError(f"probing {address}:{port} from pod {b['namespace']}/{b['name']} on {b['node']} failed "
                   f"({result.exit_code}): {output.strip()[-300:]}")


def find_pod(cluster: Any, ref: str) -> dict[str, Any] | None:
    """The pod a ref names: ``pod:<uid>``, or ``container:<containerd id>`` of one of its containers."""
    import json

    pods = json.loads(cluster.run("get", "pods", "-A", "-o", "json").stdout).get("items", [])
    kind, _, ident = ref.partition(":")
    for pod in pods:
        if kind == "pod" and pod["metadata"].get("uid") == ident:
            return dict(pod)
        if kind == "container":
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                if str(status.get("containerID", "")).split("://", 1)[-1].startswith(ident):
                    return dict(pod)
    return None


def _policy(name: str, namespace: str, run_id: str) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"podSelector": {"matchLabels": {QUARANTINE_LABEL: run_id}}, "policyTypes": ["Ingress", "Egress"]}}


def hold_pod(cluster: Any, pod: dict[str, Any], run_id: str, cordon: bool = False,
             journal: Journal | None = None) -> ContainmentRecord:
    """Label, policy, freeze and (``cordon``) cordon; ``journal`` is told the record first.

    Raises:
        LabError: the pod has no node or no running container, or a step failed (what was done is
            undone first).
    """
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
    node = spec.get("nodeName") or ""
    containers = [str(s["containerID"]).split("://", 1)[-1] for s in status.get("containerStatuses") or []
                  if s.get("containerID") and "running" in (s.get("state") or {})]
    if not node or not containers:
        raise LabError(f"pod {namespace}/{name} has {'no node' if not node else 'no running container'} to freeze")
    record = ContainmentRecord(
        ref=f"{POD_REF}{uid}", action=HOLD_POD, at=0.0,
        before={"namespace": namespace, "name": name, "node": node, "containers": containers,
                "labels": dict(meta.get("labels") or {}), "ip": status.get("podIP", ""),
                # Its traffic is its node's: no NetworkPolicy selects it, and a probe says nothing of it.
                "host_network": bool(spec.get("hostNetwork")),
                "node_unschedulable": not _schedulable_before_the_lab(cluster, node)},
        after={})
    if journal is not None:
        journal(record)
    policy = f"stw-hold-{uid[:8]}"
    done: list[str] = []
    try:
        cluster.run("label", "pod", "-n", namespace, name, f"{QUARANTINE_LABEL}={run_id}", "--overwrite")
        done.append("label")
        cluster.apply(_policy(policy, namespace, run_id))
        done.append("policy")
        for container in containers:
            _ctr(cluster, node, "task", "pause", container)
            done.append(f"pause:{container}")
        record.at = time.time()  # every process of it frozen from here on
        if cordon:
            _claim_cordon(cluster, node, record.ref)
            done.append("cordon")
    except LabError:
        record.after = {"done": done}
        _undo(cluster, record)
        raise
    record.after = {"done": done, "policy": policy, "label": QUARANTINE_LABEL,
                    "tasks": _settled(cluster, node, containers), "cordoned": "cordon" in done}
    return record


def _settled(cluster: Any, node: str, containers: list[str], timeout: float = PAUSE_SETTLE_S) -> dict[str, str]:
    """The tasks' states once every one is PAUSED, or as they are after ``timeout``: a task whose
    freezer is still FREEZING (containerd says PAUSING: a process caught in the middle of an exec's
    setup) gets there late, or not at all, and the proof then says so."""
    deadline = time.monotonic() + timeout
    while True:
        states = task_states(cluster, node, containers)
        if all(s == "PAUSED" for s in states.values()) or time.monotonic() >= deadline:
            return states
        time.sleep(0.2)


def _undo(cluster: Any, record: ContainmentRecord) -> list[str]:
    """Undo what ``after["done"]`` says, newest first; the problems, in words."""
    b, done = record.before, list(record.after.get("done") or [])
    problems = []
    for step in reversed(done):
        try:
            if step == "cordon":
                _drop_cordon(cluster, b["node"], record.ref)
            elif step.startswith("pause:"):
                states = task_states(cluster, b["node"], [step.removeprefix("pause:")])
                # PAUSING: a process the freezer could not stop yet (one in the middle of an exec's
                # setup); left so, it would never die, nor would its node.
                if next(iter(states.values()), "") in ("PAUSED", "PAUSING"):
                    _ctr(cluster, b["node"], "task", "resume", step.removeprefix("pause:"))
            elif step == "policy":
                cluster.run("delete", "networkpolicy", "-n", b["namespace"], f"stw-hold-{record.ref[4:12]}",
                            "--ignore-not-found")
            elif step == "label" and QUARANTINE_LABEL not in b["labels"]:
                cluster.run("label", "pod", "-n", b["namespace"], b["name"], f"{QUARANTINE_LABEL}-")
        except LabError as exc:
            problems.append(f"{step}: {exc}")
    return problems


def release(cluster: Any, record: ContainmentRecord) -> dict[str, Any]:
    """Undo the hold and say what the node and the API server report after (``tasks``,
    ``node_unschedulable``, ``policy_left``, ``labelled``; ``gone`` when the pod no longer exists)."""
    b = record.before
    pod = cluster.get("pod", b["name"], b["namespace"])
    if pod is None or pod["metadata"].get("uid") != record.ref.removeprefix(POD_REF):
        problems = _undo(cluster, _without_pod_steps(record))
        return {"gone": True, "problems": problems}
    problems = _undo(cluster, record)
    # The node's state and the holds that keep it cordoned, read together: another hold's release can
    # uncordon it between two separate reads (seen in a parallel --respond run).
    with _CORDONS_LOCK:
        node = cluster.get("node", b["node"]) or {}
        cordon = _CORDONS.get(b["node"])
        holders = len(cordon.holders) if cordon else 0
    labels = ((cluster.get("pod", b["name"], b["namespace"]) or {}).get("metadata") or {}).get("labels") or {}
    return {"tasks": task_states(cluster, b["node"], b["containers"]), "problems": problems,
            "node_unschedulable": bool((node.get("spec") or {}).get("unschedulable")),
            "cordon_holders": holders,
            "policy_left": cluster.get("networkpolicy", f"stw-hold-{record.ref[4:12]}", b["namespace"]) is not None,
            "labelled": labels.get(QUARANTINE_LABEL) is not None and QUARANTINE_LABEL not in b["labels"]}


def _without_pod_steps(record: ContainmentRecord) -> ContainmentRecord:
    """The pod is gone: the cordon and the policy are left to undo, and any of its containers the node
    still has frozen (a deleted pod's frozen task is never killed)."""
    keep = [s for s in record.after.get("done") or [] if s in ("cordon", "policy") or s.startswith("pause:")]
    return ContainmentRecord(record.ref, record.action, record.at, record.before, {**record.after, "done": keep})
