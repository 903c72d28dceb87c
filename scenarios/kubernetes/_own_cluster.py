"""A guard for the scenarios that change the cluster's own add-ons (kube-proxy): they run only on the
lab's own cluster, never on one named by STOWAWAY_KUBECONFIG, where a run killed half-way would leave
someone's kube-proxy changed and the reaper deletes only what the lab created."""

from __future__ import annotations

from lab import Lab, LabError
from scenarios.api import ScenarioSkipped


def require_own_cluster(lab: Lab, node: str) -> None:
    """Skip (before anything is changed) unless ``node`` is one the lab can enter: the mark of a
    cluster the lab made for this run.

    Raises:
        ScenarioSkipped: the cluster is not the lab's own.
    """
    try:
        lab.node_exec(node, "true")
    except LabError as exc:
        raise ScenarioSkipped(f"changes the cluster's own kube-proxy, so it runs only on the lab's own cluster: "
                              f"{exc}") from exc
