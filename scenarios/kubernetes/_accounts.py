"""A service account of the cluster's own tooling, set up the way a platform team does it: its
namespace, the account, a cluster-wide binding to a role, and a short-lived token to act as it.

The deploy, logging and tamper scenarios act as such an account (the approved deployer, or a namesake
of it); what makes one approved is in detectors/policy/kubernetes.yaml, never here.
"""

from __future__ import annotations

from typing import Any

from lab import Lab

RBAC = "rbac.authorization.k8s.io/v1"


def bound_account(lab: Lab, namespace: str, account: str, binding: str, role: str = "admin",
                  rules: list[dict[str, Any]] | None = None, token: bool = True) -> str:
    """Create ``namespace`` and its service account ``account``, bind it cluster-wide to ``role`` with
    the ClusterRoleBinding ``binding`` (with ``rules``: a ClusterRole of that name made first, holding
    them, is the role), and return a ten-minute token for the account ("" with ``token`` false: a
    scenario that only impersonates the account asks the API server for none)."""
    lab.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    lab.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": namespace}})
    if rules is not None:
        lab.apply({"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": binding}, "rules": rules})
        role = binding
    lab.apply({
        "apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": binding},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    })
    if not token:
        return ""
    return lab.kubectl("create", "token", account, "-n", namespace, "--duration=10m").output.strip()
