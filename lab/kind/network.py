"""Pod networking for the lab's multi-node kind cluster, set up by the lab once the nodes exist.

What kind's own CNI (kindnetd) would do, done here because its module is not on the Go module proxy
this lab builds from:

- each node's CNI config: a bridge on the node's own pod range (the /24 kube-controller-manager
  gave it, ``spec.podCIDR``), no masquerade between pods, so a NetworkPolicy sees the real source;
- routes: every node reaches the other nodes' pod ranges through their addresses on the kind network;
- masquerade: a pod's traffic that leaves the cluster's pod range (to the lab internet, the
  sinkhole) takes its node's address;
- cluster DNS: CoreDNS serves the cluster's names and forwards nothing (``cluster_dns_only``).

Between nodes, pods talk with their own addresses over the kind network, so the host must let
traffic that stays on that bridge pass Docker's internal-network isolation
(``lab.containment.allow_within_bridge``, a rule named after the run).

Services are kube-proxy's (iptables mode, on the node base image). Nodes are static for a run, so
this runs once, after ``kind create cluster`` and before the nodes are Ready.

NetworkPolicy is not enforced. The enforcer kind's CNI uses (kube-network-policies, served by the
module proxy) programs nftables ``queue`` verdicts, and this machine's kernel has no nft_queue: its
rule sync fails with ENOENT and every connection passes. A policy object is accepted and ignored.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from lab.errors import LabError
from lab.kind.recipe import POD_SUBNET
from lab.waiting import poll

CNI_CONFIG = "/etc/cni/net.d/10-lab-bridge.conflist"
MASQ_COMMENT = "stowaway-pod-egress"

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
NodeExec = Callable[[str, str], tuple[int, str]]  # (node, shell script) -> (exit code, output)


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    pod_cidr: str
    address: str  # InternalIP: its address on the kind network


def cni_config(pod_cidr: str) -> str:
    return json.dumps({
        "cniVersion": "1.0.0",
        "name": "lab-pods",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": pod_cidr}]], "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }, indent=2)


def node_script(node: Node, others: list[Node]) -> str:
    """The shell a node runs: its CNI config (written whole, then renamed: kubelet never reads half a
    file), routes to the other nodes' pods, and the masquerade for traffic leaving the pod range."""
    lines = ["set -eu", f"cat > {CNI_CONFIG}.tmp <<'EOF'", cni_config(node.pod_cidr), "EOF",
             f"mv {CNI_CONFIG}.tmp {CNI_CONFIG}"]
    lines += [f"ip route replace {other.pod_cidr} via {other.address}" for other in others]
    rule = (f"POSTROUTING -s {POD_SUBNET} ! -d {POD_SUBNET} -m addrtype ! --dst-type LOCAL "
            f"-m comment --comment {MASQ_COMMENT} -j MASQUERADE")
    lines.append(f"iptables -t nat -C {rule} 2>/dev/null || iptables -t nat -A {rule}")
    return "\n".join(lines) + "\n"


def read_nodes(kubectl: Kubectl) -> list[Node]:
    result = kubectl("get", "nodes", "-o", "json", check=False)
    if result.returncode != 0:
        return []
    nodes = []
    for item in json.loads(result.stdout).get("items", []):
        addresses = {a["type"]: a["address"] for a in item.get("status", {}).get("addresses", [])}
        cidr = item.get("spec", {}).get("podCIDR")
        if cidr and addresses.get("InternalIP"):
            nodes.append(Node(item["metadata"]["name"], cidr, addresses["InternalIP"]))
    return nodes


def cluster_dns_only(kubectl: Kubectl, timeout: float = 120) -> None:
    """CoreDNS answers the cluster's own names and forwards nothing. Its default forwards to the
    node's resolver, Docker's embedded one at 127.0.0.11: from a pod's namespace that address is the
    pod itself, CoreDNS's loop check sees its own query come back, and it stops. Inside the lab there
    is no world to resolve anyway; a scenario that needs names (a DNS hijack) brings its own."""
    current = json.loads(kubectl("get", "configmap", "-n", "kube-system", "coredns", "-o", "json").stdout)
    corefile = current["data"]["Corefile"]
    pruned = re.sub(r"\n[ \t]*forward \. /etc/resolv\.conf(?: \{[^}]*\})?", "", corefile)
    if pruned != corefile:
        current["data"]["Corefile"] = pruned
        kubectl("replace", "-f", "-", input=json.dumps(current))
        kubectl("rollout", "restart", "deployment/coredns", "-n", "kube-system")
    status = kubectl("rollout", "status", "deployment/coredns", "-n", "kube-system", f"--timeout={int(timeout)}s",
                     check=False, timeout=timeout + 30)
    if status.returncode != 0:
        raise LabError(f"CoreDNS did not become ready: {(status.stdout + status.stderr)[-1500:]}")


def configure(kubectl: Kubectl, node_exec: NodeExec, expected: int, timeout: float = 120) -> list[Node]:
    """Wait for every node to have its pod range, set each node up, and wait until every node is Ready
    and CoreDNS serves. Raises LabError naming what did not happen."""
    nodes = poll(lambda: (found := read_nodes(kubectl)) and len(found) >= expected and found, timeout, 1.0)
    if not nodes:
        raise LabError(f"the cluster's {expected} nodes did not all get a pod range within {timeout:.0f}s: "
                       f"{read_nodes(kubectl)}")
    for node in nodes:
        code, output = node_exec(node.name, node_script(node, [n for n in nodes if n is not node]))
        if code != 0:
            raise LabError(f"setting up pod networking on {node.name} failed: {output[-1500:]}")
    ready = kubectl("wait", "--for=condition=Ready", "nodes", "--all", f"--timeout={int(timeout)}s", check=False,
                    timeout=timeout + 30)
    if ready.returncode != 0:
        raise LabError(f"the nodes did not become Ready: {(ready.stdout + ready.stderr)[-1500:]}")
    cluster_dns_only(kubectl, timeout)
    return nodes
