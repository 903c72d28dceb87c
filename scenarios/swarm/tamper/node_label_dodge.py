"""A node's placement label is changed so that a constrained service lands on it."""

from __future__ import annotations

import secrets

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
        node = lab.engine.client.nodes.get(node_id(lab))
        # Several runs may share the node: each sets its own value and undoes only its own change.
        value = f"{ZONE_VALUE}-{secrets.token_hex(3)}"
        before = (node.attrs["Spec"].get("Labels") or {}).get(ZONE_KEY)
        if before is not None and before.startswith(ZONE_VALUE):
            before = None  # another run's change, which that run undoes: never restore it
        lab.track(Workload(id=node.id, name=node.attrs["Description"]["Hostname"], kind="node", backend="swarm"))

        def restore() -> None:
            fresh = lab.engine.client.nodes.get(node.id)
            labels = dict(fresh.attrs["Spec"].get("Labels") or {})
            if labels.get(ZONE_KEY) != value:
                return
            if before is None:
                labels.pop(ZONE_KEY)
            else:
                labels[ZONE_KEY] = before
            fresh.update({**fresh.attrs["Spec"], "Labels": labels})
        lab.cleanup(f"restore label {ZONE_KEY} of node {node.id}", restore)
        lab.action(f"label the node {ZONE_KEY}={value}")
        spec = node.attrs["Spec"]
        node.update({**spec, "Labels": {**(spec.get("Labels") or {}), ZONE_KEY: value}})
        service = lab.deploy(WorkloadSpec(role="vault-sync", constraints=(f"node.labels.{ZONE_KEY}=={value}",)),
                             backend="swarm")
        tasks = lab.engine.client.api.tasks(filters={"service": service.id, "desired-state": "running"})
        if not tasks or tasks[0].get("NodeID") != node.id:
            raise LabError("the constrained service did not land on the relabelled node")
