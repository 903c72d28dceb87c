"""Containment of a Swarm service: scale it to zero (or, for a global service, constrain it to no
node), keeping its spec, and give it back exactly.

A task's container cannot be contained the Docker way: the orchestrator owns it, and replaces a
task that leaves its networks or stops answering. What stops a service from running is its spec:
``replicas: 0`` for a replicated service; for a global one (which has no replica count), a
placement constraint on a node label no node carries. Everything else in the spec stays as it was,
so the spec the attacker deployed is still there to read (``docker service inspect``), and the
record keeps a copy taken before anything changed.

The orchestrator stops the tasks with the service's own stop signal and grace period; a task's
container stays on the node (stopped, its filesystem and logs kept) within the orchestrator's task
history. Freezing the containers first, and collecting what only a live process has, is the
responder's choice (it pauses them before it scales: ``lab.quarantine.pause``).

``release`` puts back the recorded mode (replicas) and placement, and waits until the orchestrator
runs as many tasks as before.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import docker.errors

from lab.errors import LabError
from lab.quarantine import SCALE_TO_ZERO, ContainmentRecord, Journal

SERVICE_REF = "service:"
# A node label no node carries: a global service constrained on it runs nowhere. The value is the
# service's id, so two held services never share a constraint a human might add to a node.
HOLD_LABEL = "node.labels.stowaway-hold"
CONVERGE_S = 60.0  # the stop grace period of a frozen task (10 s by default) fits well inside


def _inspect(client: Any, service_id: str) -> dict[str, Any]:
    try:
        return dict(client.api.inspect_service(service_id))
    except docker.errors.NotFound as exc:
        raise LabError(f"no service {service_id!r} on the engine") from exc


def running_tasks(client: Any, service_id: str) -> list[dict[str, str]]:
    """The service's tasks the orchestrator runs now, with their containers: its word, not labels
    (a container's Swarm labels are anyone's to set)."""
    found = []
    for task in client.api.tasks(filters={"service": service_id}):
        status = task.get("Status") or {}
        if task.get("DesiredState") == "running" and status.get("State") == "running":
            container = (status.get("ContainerStatus") or {}).get("ContainerID") or ""
            found.append({"task": str(task.get("ID", "")), "container": str(container)})
    return found


def service_running(client: Any, container_id: str, service_ids: list[str]) -> str | None:
    """Which of these services the orchestrator runs this container for (a task of it), if any."""
    for service_id in service_ids:
        try:
            tasks = running_tasks(client, service_id)
        except docker.errors.APIError:
            continue  # gone, or not a manager: not one the orchestrator vouches for
        if any(t["container"] and t["container"].startswith(container_id) for t in tasks):
            return service_id
    return None


def _mode(spec: dict[str, Any]) -> tuple[str, int | None]:
    mode = spec.get("Mode") or {}
    if "Global" in mode:
        return "global", None
    return "replicated", int(((mode.get("Replicated") or {}).get("Replicas")) or 0)


def _placement(spec: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy((spec.get("TaskTemplate") or {}).get("Placement") or {})


def _wait_tasks(client: Any, service_id: str, done: Any, timeout_s: float) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout_s
    while True:
        tasks = running_tasks(client, service_id)
        if done(tasks) or time.monotonic() >= deadline:
            return tasks
        time.sleep(0.3)


def scale_to_zero(client: Any, service_id: str, journal: Journal | None = None,
                  timeout_s: float = CONVERGE_S) -> ContainmentRecord:
    """Stop every task of the service through its spec, and wait until the orchestrator runs none.
    ``journal`` is told the record before anything changes. The record's ``at`` is when no task
    ran any more; ``after["running"]`` lists the tasks still running when ``timeout_s`` ran out.

    Raises:
        LabError: no such service, it is already held, or the orchestrator refused the update.
    """
    attrs = _inspect(client, service_id)
    full_id, spec = attrs["ID"], attrs["Spec"]
    mode, replicas = _mode(spec)
    placement = _placement(spec)
    hold = f"{HOLD_LABEL}=={full_id}"
    if hold in (placement.get("Constraints") or []) or (mode == "replicated" and replicas == 0):
        raise LabError(f"service {full_id[:12]} runs no task already (replicas 0, or held): nothing to contain")
    record = ContainmentRecord(ref=f"{SERVICE_REF}{full_id}", action=SCALE_TO_ZERO, at=0.0,
                               before={"spec": copy.deepcopy(spec), "version": attrs["Version"]["Index"],
                                       "mode": mode, "replicas": replicas, "placement": placement,
                                       "tasks": running_tasks(client, full_id)},
                               after={})
    if journal is not None:
        journal(record)
    try:
        if mode == "replicated":
            client.api.update_service(full_id, attrs["Version"]["Index"], mode={"Replicated": {"Replicas": 0}},
                                      fetch_current_spec=True)
        else:
            held = {**placement, "Constraints": [*(placement.get("Constraints") or []), hold]}
            client.api.update_service(full_id, attrs["Version"]["Index"], task_template={"Placement": held},
                                      fetch_current_spec=True)
    except docker.errors.APIError as exc:
        raise LabError(f"could not scale service {full_id[:12]} to zero: {exc.explanation or exc}") from exc
    left = _wait_tasks(client, full_id, lambda tasks: not tasks, timeout_s)
    record.at = time.time()
    now = _inspect(client, full_id)["Spec"]
    record.after = {"mode": _mode(now)[0], "replicas": _mode(now)[1], "placement": _placement(now),
                    "running": left, "spec_kept": _same_but_hold(spec, now)}
    return record


def _same_but_hold(before: dict[str, Any], now: dict[str, Any]) -> bool:
    """The spec is the one that ran, apart from what holding it changed (mode, placement)."""
    def strip(spec: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(spec)
        out.pop("Mode", None)
        (out.get("TaskTemplate") or {}).pop("Placement", None)
        (out.get("TaskTemplate") or {}).pop("ForceUpdate", None)
        return out
    return strip(before) == strip(now)


def release(client: Any, record: ContainmentRecord, timeout_s: float = CONVERGE_S) -> dict[str, Any]:
    """Put back the recorded mode and placement and wait for the orchestrator to run as many tasks
    as before (``release_after``: ``running``, ``wanted``, ``spec_restored``; ``gone`` when the
    service no longer exists).

    Raises:
        LabError: the orchestrator refused the update.
    """
    service_id = record.ref.removeprefix(SERVICE_REF)
    try:
        attrs = dict(client.api.inspect_service(service_id))
    except docker.errors.NotFound:
        return {"gone": True}
    spec = record.before.get("spec") or {}
    mode, replicas = _mode(spec)
    try:
        client.api.update_service(service_id, attrs["Version"]["Index"], mode=copy.deepcopy(spec.get("Mode")),
                                  task_template={"Placement": copy.deepcopy(record.before.get("placement") or {})},
                                  fetch_current_spec=True)
    except docker.errors.APIError as exc:
        raise LabError(f"could not give service {service_id[:12]} its tasks back: {exc.explanation or exc}") from exc
    wanted = replicas if mode == "replicated" else len(record.before.get("tasks") or []) or 1
    tasks = _wait_tasks(client, service_id, lambda found: len(found) >= (wanted or 0), timeout_s)
    now = _inspect(client, service_id)["Spec"]
    restored = _mode(now) == (mode, replicas) and _placement(now) == (record.before.get("placement") or {})
    return {"running": tasks, "wanted": wanted, "spec_restored": restored}
