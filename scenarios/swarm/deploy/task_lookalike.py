"""A container started by hand on a service overlay wears the labels of one of the service's tasks."""

from __future__ import annotations

from lab import Lab, LabError, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.swarm._swarm import swarm_networks

TASK_LABELS = ("com.docker.swarm.service.id", "com.docker.swarm.service.name", "com.docker.swarm.task.id",
               "com.docker.swarm.task.name", "com.docker.swarm.node.id")


class TaskLookalike(Scenario):
    id = "swarm.deploy.task-lookalike"
    title = "Container started by hand on a service overlay, wearing a real task's Swarm labels"
    kind = Kind.ADVERSARY
    techniques = ("T1610", "T1036.005")
    backends = ("docker", "swarm")
    expect = Expectation(fires=("stowaway.swarm.unmanaged-container",), within_s=15)
    twin = "swarm.tamper.approved-rollout"
    tags = ("deploy", "swarm", "defense-evasion", "forged-sanction")
    description = (
        "Creates a web service through Swarm on the run's internal LAN overlay, reads the labels the "
        "orchestrator put on its running task's container (service id and name, task id and name, node id), "
        "and starts a plain container directly on the node's engine with those same labels, attached to the "
        "same overlay, so it looks like one of the service's tasks. From it, it fetches pages from the real "
        "task. The scenario checks the fetch works and that the orchestrator lists no such task container."
    )

    def detonate(self, lab: Lab) -> None:
        swarm_networks(lab)
        web = lab.deploy(WorkloadSpec(role="web", command=("python3", "-m", "http.server", "8080", "--directory",
                                                           "/usr/share/doc")), backend="swarm")
        task_labels = lab.inspect(web.container_ids[0])["Config"].get("Labels") or {}
        labels = {k: v for k, v in task_labels.items() if k in TASK_LABELS}
        if len(labels) != len(TASK_LABELS):
            raise LabError(f"the task container lacks Swarm's labels: {sorted(labels)}")
        lab.action("start a container by hand on the overlay, wearing the task's labels")
        box = lab.deploy(WorkloadSpec(role="web", labels=labels), backend="docker", network_scope="swarm")
        url = f"http://{web.addresses['lan']}:8080/"
        lab.exec(box, "sh", "-c", f"for i in 1 2 3 4 5 6 7 8; do curl -sf -m 2 -o /dev/null {url} && exit 0; "
                 "sleep 1; done; exit 1")
        tasks = lab.service_tasks(web)
        if any((t.get("Status") or {}).get("ContainerStatus", {}).get("ContainerID") == box.id for t in tasks):
            raise LabError("the orchestrator lists the hand-started container as a task")
