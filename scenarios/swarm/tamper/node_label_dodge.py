"""A node's placement label is changed so that a constrained service lands on it."""

from __future__ import annotations

import secrets

from lab import Lab, LabError, Workload, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.swarm._swarm import swarm_networks, swarm_node

ZONE_KEY = "zone"
ZONE_VALUE = "restricted"


class NodeLabelDodge(Scenario):
    id = "swarm.tamper.node-label-dodge"
    title = "Swarm node label changed so a constrained service is placed on it"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001", "T1543.005", "T1610")
    backends = ("docker", "swarm")
    expect = Expectation(fires=("stowaway.swarm.node-label-changed",), within_s=30)
    tags = ("swarm", "tamper", "defense-evasion")
    parallel_safe = False  # the node's labels are shared by every run on the engine
    description = (
        "With manager access, sets the node label `zone=restricted-<random>` on the lab engine's "
        "Swarm node, a value the placement policy does not declare for any node, then creates a "
        "service constrained to that label. The scenario checks the service's task runs on that "
        "node, then puts the node's zone label back as it was (only if it still holds its value)."
    )

    def detonate(self, lab: Lab) -> None:
        swarm_networks(lab)
        node = swarm_node(lab)
        # Several runs may share the node: each sets its own value and undoes only its own change.
        value = f"{ZONE_VALUE}-{secrets.token_hex(3)}"
        before = node.labels.get(ZONE_KEY)
        if before is not None and before.startswith(ZONE_VALUE):
            before = None  # another run's change, which that run undoes: never restore it
        lab.track(Workload(id=node.id, name=node.hostname, kind="node", backend="swarm"))

        def restore() -> None:
            labels = dict(lab.swarm_node(node.id).labels)
            if labels.get(ZONE_KEY) != value:
                return
            if before is None:
                labels.pop(ZONE_KEY)
            else:
                labels[ZONE_KEY] = before
            lab.set_node_labels(node.id, labels)
        lab.cleanup(f"restore label {ZONE_KEY} of node {node.id}", restore)
        lab.action(f"label the node {ZONE_KEY}={value}")
        lab.set_node_labels(node.id, {**node.labels, ZONE_KEY: value})
        service = lab.deploy(WorkloadSpec(role="vault-sync", constraints=(f"node.labels.{ZONE_KEY}=={value}",)),
                             backend="swarm")
        tasks = lab.service_tasks(service, desired_state="running")
        if not tasks or tasks[0].get("NodeID") != node.id:
            raise LabError("the constrained service did not land on the relabelled node")
