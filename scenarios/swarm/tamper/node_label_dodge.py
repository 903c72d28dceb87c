"""A node's placement label is changed so that a constrained service lands on it."""

from __future__ import annotations

from lab import Lab, LabError, Workload, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.swarm._swarm import node_id, swarm_networks

ZONE_KEY = "zone"
ZONE_VALUE = "restricted"


class NodeLabelDodge(Scenario):
    id = "swarm.tamper.node-label-dodge"
    title = "Swarm node label changed so a constrained service is placed on it"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001", "T1543.005", "T1610")
    backends = ("docker", "swarm")
    expect = Expectation(fires=("stowaway.swarm.node-label-changed",), within_s=20)
    tags = ("swarm", "tamper", "defense-evasion")
    parallel_safe = False  # the node's labels are shared by every run on the engine
    description = (
        "With manager access, sets the node label `zone=restricted` on the lab engine's Swarm node, "
        "a value the placement policy does not declare for any node, then creates a service "
        "constrained to `node.labels.zone==restricted`. The scenario checks the service's task "
        "runs on that node, then restores the node's labels exactly as they were."
    )

    def detonate(self, lab: Lab) -> None:
        swarm_networks(lab)
        node = lab.engine.client.nodes.get(node_id(lab))
        original = dict(node.attrs["Spec"])
        lab.track(Workload(id=node.id, name=node.attrs["Description"]["Hostname"], kind="node", backend="swarm"))

        def restore() -> None:
            fresh = lab.engine.client.nodes.get(node.id)
            fresh.update({**fresh.attrs["Spec"], "Labels": original.get("Labels") or {}})
        lab.cleanup(f"restore labels of node {node.id}", restore)
        lab.action(f"label the node {ZONE_KEY}={ZONE_VALUE}")
        node.update({**original, "Labels": {**(original.get("Labels") or {}), ZONE_KEY: ZONE_VALUE}})
        service = lab.deploy(WorkloadSpec(role="vault-sync", constraints=(f"node.labels.{ZONE_KEY}=={ZONE_VALUE}",)),
                             backend="swarm")
        tasks = lab.engine.client.api.tasks(filters={"service": service.id, "desired-state": "running"})
        if not tasks or tasks[0].get("NodeID") != node.id:
            raise LabError("the constrained service did not land on the relabelled node")
