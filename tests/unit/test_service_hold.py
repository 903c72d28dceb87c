"""Holding a Swarm service on no node and giving it back, against a stand-in orchestrator at the API
boundary that behaves as dockerd 20.10 was measured to: a placement no node meets shuts the running
tasks down (their containers stop and stay) and leaves a replacement pending."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lab import LabError, service_hold
from lab.quarantine import ContainmentRecord, release, release_journalled

SID = "s" * 25


class Orchestrator:
    """inspect_service / update_service / tasks / inspect_container, following the spec at once."""

    def __init__(self, mode: dict[str, Any], placement: dict[str, Any] | None = None, stops: bool = True) -> None:
        template: dict[str, Any] = {"ContainerSpec": {"Image": "web:1", "Command": ["serve"]}}
        if placement is not None:
            template["Placement"] = placement
        self.spec: dict[str, Any] = {"Name": "web-1", "Mode": mode, "TaskTemplate": template, "Labels": {"a": "b"}}
        self.version = 10
        self.stops = stops  # False: the held tasks keep running (a stop that never ends)
        self.generation = 0  # each update that places tasks again starts new containers
        self.api = self

    def inspect_service(self, service_id: str, **_: Any) -> dict[str, Any]:
        return {"ID": SID, "Version": {"Index": self.version}, "Spec": copy.deepcopy(self.spec)}

    def update_service(self, service_id: str, version: int, mode: Any = None, task_template: Any = None,
                       fetch_current_spec: bool = False, **_: Any) -> None:
        assert fetch_current_spec and version == self.version  # never a blind overwrite of the spec
        if task_template is not None:
            self.spec["TaskTemplate"].update(copy.deepcopy(task_template))
        # what the engine does on any update: fill in defaults the spec never set
        self.spec["TaskTemplate"]["ContainerSpec"].setdefault("StopGracePeriod", 10_000_000_000)
        self.spec.setdefault("UpdateConfig", {"Parallelism": 1})
        self.version += 1
        if not self.held():
            self.generation += 1

    def held(self) -> bool:
        constraints = (self.spec["TaskTemplate"].get("Placement") or {}).get("Constraints") or []
        return any(c.startswith(service_hold.HOLD_LABEL) for c in constraints)

    def _count(self) -> int:
        return int(self.spec["Mode"].get("Replicated", {}).get("Replicas", 2))

    def tasks(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        found = []
        for i in range(self._count()):
            cid = f"{self.generation}{i}".ljust(64, "0")
            if self.held():
                state = "running" if not self.stops else "shutdown"
                found.append({"ID": f"old{i}", "DesiredState": "shutdown",
                              "Status": {"State": state, "ContainerStatus": {"ContainerID": cid}}})
                found.append({"ID": f"new{i}", "DesiredState": "running", "Status": {"State": "pending"}})
            else:
                found.append({"ID": f"t{self.generation}{i}", "DesiredState": "running",
                              "Status": {"State": "running", "ContainerStatus": {"ContainerID": cid}}})
        return found

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        return {"State": {"Status": "exited" if self.held() and self.stops else "running"}}


def test_a_replicated_service_is_held_on_no_node_keeping_spec_and_containers_and_comes_back() -> None:
    orch = Orchestrator({"Replicated": {"Replicas": 2}})
    journal: list[dict[str, Any]] = []
    record = service_hold.hold_service(orch, SID, journal=lambda r: journal.append(r.to_dict()))
    assert journal and journal[0]["before"]["replicas"] == 2  # told before anything changed
    assert record.ref == f"service:{SID}" and record.action == "hold-service" and record.at > 0
    assert record.before["spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "web:1"
    assert len(record.before["tasks"]) == 2 and record.after["running"] == [] and record.after["pending"] == 2
    assert [k["status"] for k in record.after["kept"]] == ["exited", "exited"]
    assert record.after["spec_kept"]  # the engine's defaults are not a change
    assert orch.spec["Mode"] == {"Replicated": {"Replicas": 2}}  # never scaled: scaling removes containers
    release(orch, record)
    assert record.released_at is not None
    assert record.release_after["spec_restored"] and len(record.release_after["running"]) == 2
    assert orch.spec["TaskTemplate"]["Placement"] == {}


def test_a_global_service_keeps_its_own_constraints_and_gets_them_back() -> None:
    orch = Orchestrator({"Global": {}}, placement={"Constraints": ["node.role==manager"]})
    orch._count = lambda: 1  # type: ignore[method-assign]  # one node, one task
    record = service_hold.hold_service(orch, SID)
    constraints = orch.spec["TaskTemplate"]["Placement"]["Constraints"]
    assert constraints == ["node.role==manager", f"{service_hold.HOLD_LABEL}=={SID}"]
    assert record.after["running"] == [] and record.after["spec_kept"]
    release(orch, record)
    assert orch.spec["TaskTemplate"]["Placement"] == {"Constraints": ["node.role==manager"]}
    assert record.release_after["spec_restored"] and record.release_after["wanted"] == 1


def test_tasks_that_do_not_stop_are_listed_not_hidden() -> None:
    orch = Orchestrator({"Replicated": {"Replicas": 1}}, stops=False)
    record = service_hold.hold_service(orch, SID, timeout_s=0.0)
    assert [t["desired"] for t in record.after["running"]] == ["shutdown"]


def test_a_held_service_is_refused_a_second_hold() -> None:
    orch = Orchestrator({"Replicated": {"Replicas": 1}})
    service_hold.hold_service(orch, SID)
    with pytest.raises(LabError, match="held already"):
        service_hold.hold_service(orch, SID)


def test_a_held_service_a_dead_run_left_is_given_back_by_the_reaper() -> None:
    orch = Orchestrator({"Replicated": {"Replicas": 3}})
    entries: list[dict[str, Any]] = []
    service_hold.hold_service(orch, SID, journal=lambda r: entries.append({"kind": "containment",
                                                                            "record": r.to_dict()}))
    assert orch.held()
    assert release_journalled(orch, entries) == 1
    assert not orch.held()


def test_which_service_runs_a_container_is_the_orchestrators_word() -> None:
    orch = Orchestrator({"Replicated": {"Replicas": 1}})
    running = orch.tasks({})[0]["Status"]["ContainerStatus"]["ContainerID"]
    assert service_hold.service_running(orch, running[:12], [SID]) == SID
    assert service_hold.service_running(orch, "9" * 12, [SID]) is None  # a container posing as its task


def test_a_spec_that_changed_what_it_said_is_not_kept() -> None:
    before = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "web:1"}}}
    assert service_hold.same_but_placement(before, {**before, "UpdateConfig": {"Parallelism": 1}})
    assert not service_hold.same_but_placement(before, {"Name": "web", "TaskTemplate": {"ContainerSpec": {
        "Image": "web:2"}}})


def test_a_record_round_trips_with_the_new_action() -> None:
    record = service_hold.hold_service(Orchestrator({"Replicated": {"Replicas": 1}}), SID)
    again = ContainmentRecord.from_dict(record.to_dict())
    assert again.action == "hold-service" and again.before == record.before
