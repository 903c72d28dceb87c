"""Pod networking for the lab's multi-node kind cluster, set up by the lab once the nodes exist.

What kind's own CNI (kindnetd) would do, done here because its module is not on the Go module proxy
this lab builds from (its NetworkPolicy engine is, and runs as a DaemonSet):

- each node's CNI config: a bridge on the node's own pod range (the /24 kube-controller-manager
  gave it, ``spec.podCIDR``), no masquerade between pods, so a NetworkPolicy sees the real source;
- routes: every node reaches the other nodes' pod ranges through their addresses on the kind network;
- masquerade: a pod's traffic that leaves the cluster's pod range (to the lab internet, the
  sinkhole) takes its node's address;
- NetworkPolicy: kube-network-policies, one per node (``assets/cluster/network-policies.yaml``),
  judging the first packet of every connection to or from a pod, handed to it through NFQUEUE by
  the iptables chain below (``policy_rules``);
- cluster DNS: CoreDNS serves the cluster's names and forwards nothing (``cluster_dns_only``).

Between nodes, pods talk with their own addresses over the kind network, so the host must let
traffic that stays on that bridge pass Docker's internal-network isolation
(``lab.containment.allow_within_bridge``, a rule named after the run).

Why iptables feeds the enforcer: kube-network-policies programs its own hook as an nftables chain
whose verdict is ``queue``, and this machine's kernel has no nft_queue (the rule fails with ENOENT;
its sync logs the error and retries). The kernel has iptables' NFQUEUE target, and the enforcer's
side of the queue (nfnetlink_queue) does not care which rule queued a packet. So the lab installs
the same hook in iptables: the same place (after DNAT, before SNAT: a Service's packet is judged
with the pod it was sent to and the pod that sent it), the same exemptions (replies, and what the
node's root sends: kubelet's probes), no bypass (a packet nobody judges is dropped: the enforcer's
default, fail closed). Upstream queues only pods some policy selects (an nftables set it keeps);
here every pod's new connection is queued and a pod no policy selects is let through by the
enforcer itself, which costs a round trip to user space per connection, not per packet.

Services are kube-proxy's (iptables mode, on the node base image). Nodes are static for a run, so
this runs once, after ``kind create cluster`` and before the nodes are Ready.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError
from lab.kind.recipe import NETWORK_POLICY_IMAGE, POD_SUBNET
from lab.waiting import poll

ASSETS = Path(__file__).parent / "assets" / "cluster"
CNI_CONFIG = "/etc/cni/net.d/10-lab-bridge.conflist"
MASQ_COMMENT = "stowaway-pod-egress"
POLICY_CHAIN = "STOWAWAY-NETPOL"
POLICY_QUEUE = 100  # the enforcer's --nfqueue-id (assets/cluster/network-policies.yaml)

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


def policy_rules() -> list[str]:
    """The iptables commands that hand the enforcer every new connection to or from a pod (see the
    module's docstring). In mangle POSTROUTING: after kube-proxy's DNAT, before the masquerade."""
    chain = f"iptables -t mangle -A {POLICY_CHAIN}"
    queue = f"-j NFQUEUE --queue-num {POLICY_QUEUE}"
    return [
        f"iptables -t mangle -N {POLICY_CHAIN} 2>/dev/null || iptables -t mangle -F {POLICY_CHAIN}",
        # A socket of the node's root (kubelet's probes, the node's daemons), never a pod's forwarded packet.
        f"{chain} -m owner --uid-owner 0 -j RETURN",
        f"{chain} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN",
        f"{chain} -s {POD_SUBNET} {queue}",
        f"{chain} -d {POD_SUBNET} {queue}",
        f"iptables -t mangle -C POSTROUTING -j {POLICY_CHAIN} 2>/dev/null || "
        f"iptables -t mangle -A POSTROUTING -j {POLICY_CHAIN}",
    ]


def node_script(node: Node, others: list[Node]) -> str:
    """The shell a node runs: its CNI config (written whole, then renamed: kubelet never reads half a
    file), routes to the other nodes' pods, the masquerade for traffic leaving the pod range, and the
    hook that puts NetworkPolicy's enforcer in every pod connection's path."""
    lines = ["set -eu", f"cat > {CNI_CONFIG}.tmp <<'EOF'", cni_config(node.pod_cidr), "EOF",
             f"mv {CNI_CONFIG}.tmp {CNI_CONFIG}"]
    lines += [f"ip route replace {other.pod_cidr} via {other.address}" for other in others]
    rule = (f"POSTROUTING -s {POD_SUBNET} ! -d {POD_SUBNET} -m addrtype ! --dst-type LOCAL "
            f"-m comment --comment {MASQ_COMMENT} -j MASQUERADE")
    lines.append(f"iptables -t nat -C {rule} 2>/dev/null || iptables -t nat -A {rule}")
    lines += policy_rules()
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
    """Wait for every node to have its pod range, set each node up, start the NetworkPolicy enforcer,
    and wait until every node is Ready, the enforcer runs on each and CoreDNS serves. Raises LabError
    naming what did not happen."""
    nodes = poll(lambda: (found := read_nodes(kubectl)) and len(found) >= expected and found, timeout, 1.0)
    if not nodes:
        raise LabError(f"the cluster's {expected} nodes did not all get a pod range within {timeout:.0f}s: "
                       f"{read_nodes(kubectl)}")
    for node in nodes:
        code, output = node_exec(node.name, node_script(node, [n for n in nodes if n is not node]))
        if code != 0:
            raise LabError(f"setting up pod networking on {node.name} failed: {output[-1500:]}")
    manifest = (ASSETS / "network-policies.yaml").read_text().replace("@IMAGE@", NETWORK_POLICY_IMAGE)
    applied = kubectl("apply", "-f", "-", input=manifest, check=False)
    if applied.returncode != 0:
        raise LabError(f"the NetworkPolicy enforcer could not be installed: {applied.stderr[-1500:]}")
    ready = kubectl("wait", "--for=condition=Ready", "nodes", "--all", f"--timeout={int(timeout)}s", check=False,
                    timeout=timeout + 30)
    if ready.returncode != 0:
        raise LabError(f"the nodes did not become Ready: {(ready.stdout + ready.stderr)[-1500:]}")
    enforcer = kubectl("rollout", "status", "daemonset/network-policies", "-n", "kube-system",
                       f"--timeout={int(timeout)}s", check=False, timeout=timeout + 30)
    if enforcer.returncode != 0:
        raise LabError("the NetworkPolicy enforcer did not start on every node (pods' connections are dropped "
                       f"until it does): {(enforcer.stdout + enforcer.stderr)[-1500:]}")
    cluster_dns_only(kubectl, timeout)
    return nodes
