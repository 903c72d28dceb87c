"""The lab's pod networking for its multi-node kind cluster, against a fake kubectl and node shell."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from lab import LabError
from lab.kind import network
from lab.kind.recipe import POD_SUBNET

NODES = {"items": [
    {"metadata": {"name": "cp"}, "spec": {"podCIDR": "198.18.224.0/24"},
     "status": {"addresses": [{"type": "InternalIP", "address": "198.19.100.4"},
                              {"type": "Hostname", "address": "cp"}]}},
    {"metadata": {"name": "w1"}, "spec": {"podCIDR": "198.18.225.0/24"},
     "status": {"addresses": [{"type": "InternalIP", "address": "198.19.100.2"}]}},
    {"metadata": {"name": "w2"}, "spec": {},
     "status": {"addresses": [{"type": "InternalIP", "address": "198.19.100.3"}]}},
]}
COREFILE = ".:53 {\n    errors\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n       pods insecure\n    }\n" \
           "    forward . /etc/resolv.conf {\n       max_concurrent 1000\n    }\n    cache 30\n    loop\n}\n"


class FakeKubectl:
    def __init__(self, nodes: dict) -> None:
        self.nodes = nodes
        self.calls: list[tuple[str, ...]] = []
        self.replaced: dict = {}

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        out = ""
        if args[:2] == ("get", "nodes"):
            out = json.dumps(self.nodes)
        elif args[:2] == ("get", "configmap"):
            out = json.dumps({"data": {"Corefile": COREFILE}})
        elif args[0] == "replace":
            self.replaced = json.loads(input or "{}")
        return subprocess.CompletedProcess(list(args), 0, out, "")


def test_a_node_without_its_pod_range_yet_is_not_read():
    assert [n.name for n in network.read_nodes(FakeKubectl(NODES))] == ["cp", "w1"]


def test_each_node_gets_its_own_range_routes_to_the_others_and_the_egress_masquerade():
    cp, w1 = network.read_nodes(FakeKubectl(NODES))
    script = network.node_script(w1, [cp])
    config = json.loads(script.split("<<'EOF'\n", 1)[1].split("\nEOF", 1)[0])
    bridge = config["plugins"][0]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "198.18.225.0/24"}]]
    assert bridge["ipMasq"] is False  # pods keep their own addresses between nodes
    assert "ip route replace 198.18.224.0/24 via 198.19.100.4" in script
    assert "198.18.225.0/24 via" not in script  # no route to its own range
    assert f"-s {POD_SUBNET} ! -d {POD_SUBNET}" in script and "-j MASQUERADE" in script


def test_every_new_pod_connection_is_queued_to_the_enforcer_but_replies_and_the_nodes_root_are_not():
    cp, w1 = network.read_nodes(FakeKubectl(NODES))
    script = network.node_script(w1, [cp]).splitlines()
    chain = [line for line in script if line.startswith("iptables -t mangle -A STOWAWAY-NETPOL")]
    # order matters: the exemptions first, then both directions of the pod range to the queue
    assert ["--uid-owner 0" in chain[0], "ESTABLISHED,RELATED" in chain[1]] == [True, True]
    assert chain[2].endswith(f"-s {POD_SUBNET} -j NFQUEUE --queue-num 100")
    assert chain[3].endswith(f"-d {POD_SUBNET} -j NFQUEUE --queue-num 100")
    assert not any("queue-bypass" in line for line in script)  # fail closed, as the enforcer's default
    assert any("-C POSTROUTING -j STOWAWAY-NETPOL" in line for line in script)  # hooked once, idempotent
    docs = list(yaml.safe_load_all((network.ASSETS / "network-policies.yaml").read_text().replace("@IMAGE@", "x")))
    args = next(d for d in docs if d["kind"] == "DaemonSet")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--nfqueue-id={network.POLICY_QUEUE}" in args and not [a for a in args if "fail-open" in a]


def test_configure_sets_up_every_node_and_makes_coredns_forward_nothing():
    kubectl = FakeKubectl({"items": NODES["items"][:2]})
    shells: list[str] = []
    nodes = network.configure(kubectl, lambda node, script: (shells.append(node), (0, ""))[1], expected=2)
    assert [n.name for n in nodes] == ["cp", "w1"] and shells == ["cp", "w1"]
    assert ("apply", "-f", "-") in kubectl.calls  # the enforcer's DaemonSet
    assert ("rollout", "status", "daemonset/network-policies", "-n", "kube-system", "--timeout=120s") \
        in kubectl.calls
    corefile = kubectl.replaced["data"]["Corefile"]
    assert "forward" not in corefile and "kubernetes cluster.local" in corefile and "cache 30" in corefile
    assert ("rollout", "restart", "deployment/coredns", "-n", "kube-system") in kubectl.calls


def test_a_node_that_fails_its_setup_is_named():
    with pytest.raises(LabError, match="w1"):
        network.configure(FakeKubectl({"items": NODES["items"][:2]}),
                          lambda node, script: (1, "boom") if node == "w1" else (0, ""), expected=2)
