"""The scenarios that change the cluster's own kube-proxy skip, before changing anything, on a cluster
the lab did not make (one it cannot enter a node of)."""

from __future__ import annotations

import types
from typing import Any

import pytest

from lab import LabError
from scenarios.api import ScenarioSkipped
from scenarios.kubernetes._own_cluster import require_own_cluster
from scenarios.kubernetes.tamper.kube_proxy_sidecar import KubeProxySidecar


class KubeconfigLab:
    """A run on a cluster named by STOWAWAY_KUBECONFIG: kubectl works, its nodes cannot be entered."""

    def __init__(self) -> None:
        self.kubectl_calls: list[tuple[str, ...]] = []

    def kubectl(self, *args: str, **_: Any) -> Any:
        self.kubectl_calls.append(args)
        return types.SimpleNamespace(output="node-a", exit_code=0)

    def node_exec(self, node: str, *command: str) -> Any:
        raise LabError("a cluster named by STOWAWAY_KUBECONFIG has no node the lab can enter")

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the scenario went on to {name} on a cluster it does not own")


def test_the_guard_skips_where_no_node_can_be_entered() -> None:
    with pytest.raises(ScenarioSkipped, match="lab's own cluster"):
        require_own_cluster(KubeconfigLab(), "node-a")  # type: ignore[arg-type]


def test_the_sidecar_scenario_changes_nothing_on_a_cluster_it_does_not_own() -> None:
    lab = KubeconfigLab()
    scenario = KubeProxySidecar()
    with pytest.raises(ScenarioSkipped):
        scenario.detonate(lab)  # type: ignore[arg-type]
    assert [args[:2] for args in lab.kubectl_calls] == [("get", "nodes")]  # read, never patched
