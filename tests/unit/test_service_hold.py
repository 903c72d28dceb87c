"""Scaling a Swarm service to zero and back, against a stand-in orchestrator at the API boundary."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lab import LabError, service_hold
from lab.quarantine import ContainmentRecord, release, release_journalled

SID = "s" * 25


class Orchestrator:
    """inspect_service / update_service / tasks, with tasks that follow the spec at once."""

    def __init__(self, mode: dict[str, Any], placement: dict[str, Any] | None = None, stops: bool = True) -> None:
        template: dict[str, Any] = {"ContainerSpec": {"Image": "web:1", "Command": ["serve"]}}
        if placement is not None:
            template["Placement"] = placement
        self.spec: dict[str, Any] = {"Name": "web-1", "Mode": mode, "TaskTemplate": template, "Labels": {"a": "b"}}
        self.version = 10
        self.stops = stops  # False: the tasks keep running whatever the spec says
        self.updates: list[dict[str, Any]] = []
        self.api = self

    def inspect_service(self, service_id: str, **_: Any) -> dict[str, Any]:
        return {"ID": SID, "Version": {"Index": self.version}, "Spec": copy.deepcopy(self.spec)}

    def update_service(self, service_id: str, version: int, mode: Any = None, task_template: Any = None,
                       fetch_current_spec: bool = False, **_: Any) -> None:
        assert fetch_current_spec and version == self.version  # never a blind overwrite of the spec
        self.updates.append({"mode": mode, "task_template": task_template})
        if mode is not None:
            self.spec["Mode"] = copy.deepcopy(mode)
        if task_template is not None:
            self.spec["TaskTemplate"].update(copy.deepcopy(task_template))
        self.version += 1

    def _wanted(self) -> int:
        constraints = (self.spec["TaskTemplate"].get("Placement") or {}).get("Constraints") or []
        if any(c.startswith(service_hold.HOLD_LABEL) for c in constraints):
            return 0
        return int(self.spec["Mode"].get("Replicated", {}).get("Replicas", 1))

    def tasks(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        count = self._wanted() if self.stops else 2
        return [{"ID": f"t{i}", "DesiredState": "running",
                 "Status": {"State": "running", "ContainerStatus": {"ContainerID": f"{i}" * 64}}}
                for i in range(count)]


def test_a_replicated_service_goes_to_zero_keeping_its_spec_and_comes_back() -> None:
    orch = Orchestrator({"Replicated": {"Replicas": 2}})
    journal: list[dict[str, Any]] = []
    record = service_hold.scale_to_zero(orch, SID, journal=lambda r: journal.append(r.to_dict()))
    assert journal and journal[0]["before"]["replicas"] == 2  # told before anything changed
    assert record.ref == f"service:{SID}" and record.action == "scale-to-zero" and record.at > 0
    assert record.before["spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "web:1"
    assert len(record.before["tasks"]) == 2 and record.after["running"] == []
    assert record.after["replicas"] == 0 and record.after["spec_kept"]
    release(orch, record)
    assert record.released_at is not None
    assert record.release_after["spec_restored"] and len(record.release_after["running"]) == 2
    assert orch.spec["Mode"] == {"Replicated": {"Replicas": 2}}


def test_a_global_service_is_placed_on_no_node_and_its_own_constraints_return() -> None:
    orch = Orchestrator({"Global": {}}, placement={"Constraints": ["node.role==manager"]})
    record = service_hold.scale_to_zero(orch, SID)
    constraints = orch.spec["TaskTemplate"]["Placement"]["Constraints"]
    assert constraints == ["node.role==manager", f"{service_hold.HOLD_LABEL}=={SID}"]
    assert record.after["running"] == [] and record.after["spec_kept"]
    release(orch, record)
    assert orch.spec["TaskTemplate"]["Placement"] == {"Constraints": ["node.role==manager"]}
    assert orch.spec["Mode"] == {"Global": {}} and record.release_after["spec_restored"]


def test_tasks_the_orchestrator_does_not_stop_are_listed_not_hidden() -> None:
    orch = Orchestrator({"Replicated": {"Replicas": 1}}, stops=False)
    record = service_hold.scale_to_zero(orch, SID, timeout_s=0.0)
    assert len(record.after["running"]) == 2


def test_a_service_running_nothing_is_refused() -> None:
    with pytest.raises(LabError, match="runs no task already"):
        service_hold.scale_to_zero(Orchestrator({"Replicated": {"Replicas": 0}}), SID)


def test_a_held_service_a_dead_run_left_is_given_back_by_the_reaper() -> None:
    orch = Orchestrator({"Replicated": {"Replicas": 3}})
    entries: list[dict[str, Any]] = []
    service_hold.scale_to_zero(orch, SID, journal=lambda r: entries.append({"kind": "containment",
                                                                             "record": r.to_dict()}))
    assert orch._wanted() == 0
    assert release_journalled(orch, entries) == 1
    assert orch.spec["Mode"] == {"Replicated": {"Replicas": 3}}


def test_which_service_runs_a_container_is_the_orchestrators_word() -> None:
    orch = Orchestrator({"Replicated": {"Replicas": 1}})
    assert service_hold.service_running(orch, "0" * 12, [SID]) == SID
    assert service_hold.service_running(orch, "9" * 12, [SID]) is None  # a container posing as its task


def test_a_record_round_trips_with_the_new_action() -> None:
    record = service_hold.scale_to_zero(Orchestrator({"Replicated": {"Replicas": 1}}), SID)
    again = ContainmentRecord.from_dict(record.to_dict())
    assert again.action == "scale-to-zero" and again.before == record.before
