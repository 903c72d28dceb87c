"""Shared by the swarm scenarios: get the lab engine's Swarm, or skip with the reason."""

from __future__ import annotations

import time

from lab import Lab, LabError, LabNetwork, SwarmNode, SwarmUnavailable, Workload
from scenarios.api import ScenarioSkipped


def swarm_networks(lab: Lab) -> dict[str, LabNetwork]:
    try:
        return lab.swarm_networks()
    except SwarmUnavailable as exc:
        raise ScenarioSkipped(f"no Swarm on the lab engine: {exc}") from exc


def wait_converged(lab: Lab, service: Workload, replicas: int, timeout: float = 60) -> None:
    """Wait until the service's update finished and ``replicas`` tasks of the new spec run; record
    the new task containers on the workload so alerts on them are attributed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inspect = lab.inspect(service)
        state = (inspect.get("UpdateStatus") or {}).get("State", "completed")
        wanted = inspect["Spec"]["TaskTemplate"].get("ContainerSpec") or {}
        # Only tasks of the new spec count: right after an update the old task still runs.
        tasks = [t for t in lab.service_tasks(service) if t.get("DesiredState") == "running"
                 and all((t.get("Spec") or {}).get("ContainerSpec", {}).get(k) == wanted.get(k)
                         for k in ("Image", "Command", "Env"))]
        running = [t for t in tasks if t["Status"]["State"] == "running"]
        for task in tasks:
            if task["Status"]["State"] in ("failed", "rejected"):
                raise LabError(f"task {task['Status']['State']}: {task['Status'].get('Err')}")
        if state in ("completed", "") and len(running) >= replicas:
            for task in running:
                cid = task["Status"].get("ContainerStatus", {}).get("ContainerID")
                if cid and cid not in service.container_ids:
                    service.container_ids.append(cid)
            return
        if state in ("paused", "rollback_completed", "rollback_paused"):
            raise LabError(f"the service update ended {state}: {(inspect.get('UpdateStatus') or {}).get('Message')}")
        time.sleep(0.3)
    raise LabError(f"service {service.name} did not converge on {replicas} running task(s) in {timeout:.0f}s")


def running_container(lab: Lab, service: Workload) -> str:
    for task in lab.service_tasks(service):
        if task.get("DesiredState") == "running" and task["Status"]["State"] == "running":
            return str(task["Status"]["ContainerStatus"]["ContainerID"])
    raise LabError(f"service {service.name} has no running task")


def swarm_node(lab: Lab) -> SwarmNode:
    try:
        return lab.swarm_node()
    except LabError as exc:
        raise ScenarioSkipped(str(exc)) from exc
