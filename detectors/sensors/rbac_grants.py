"""What a Kubernetes Role or ClusterRole lets its subjects do, reduced to the grants that own a cluster.

Sigma matches a flattened event, where the rules of a role merge into one list per field
(``requestObject.rules.verbs: [get, list, "*"]``): it cannot tell one rule granting every verb on
pods from another granting ``get`` on everything. Each PolicyRule is therefore judged on its own
here, and the audit sensor writes the result into the event (``kubernetes.rbac.grants``).

The grants, each one enough to take the cluster:

* ``write-any-resource``: a write verb (or ``*``) on every resource (``*``) of a group that holds
  workloads, secrets or RBAC: the core group, ``apps``, ``batch``, ``rbac.authorization.k8s.io``,
  ``admissionregistration.k8s.io``, or every group (``*``). The verbs may be spelt out instead of
  ``*``: one write verb on everything is already a way to run a pod anywhere or rewrite a role.
  A wildcard inside an operator's own API group (``reports.example.com: *``) is not this grant:
  operators routinely own their custom resources that way.
* ``escalate``: the ``escalate`` or ``bind`` verb (or ``*``) on roles or cluster roles (or on every
  RBAC resource): RBAC's own escalation check no longer applies to whoever holds it.
* ``impersonate``: ``impersonate`` (or ``*``) on users, groups or every resource: act as anyone,
  ``system:masters`` included. Impersonating service accounts is left out: the built-in ``edit``
  and ``admin`` roles grant it, inside their namespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

WRITE_VERBS = frozenset({"*", "create", "update", "patch", "delete", "deletecollection"})
# Groups whose every resource is a way to own the cluster ("" is the core group: pods, secrets...).
SENSITIVE_GROUPS = frozenset({"*", "", "apps", "batch", "rbac.authorization.k8s.io",
                              "admissionregistration.k8s.io"})
RBAC_GROUP = "rbac.authorization.k8s.io"
ROLE_RESOURCES = frozenset({"*", "roles", "clusterroles"})
IMPERSONATE_RESOURCES = frozenset({"*", "users", "groups"})


def _strings(value: Any) -> set[str]:
    return {str(v) for v in value} if isinstance(value, list) else set()


def rule_grants(rule: Any) -> set[str]:
    """The grants of one PolicyRule (``{"apiGroups": [...], "resources": [...], "verbs": [...]}``)."""
    if not isinstance(rule, dict):
        return set()
    verbs, resources, groups = _strings(rule.get("verbs")), _strings(rule.get("resources")), \
        _strings(rule.get("apiGroups"))
    grants: set[str] = set()
    if "*" in resources and verbs & WRITE_VERBS and groups & SENSITIVE_GROUPS:
        grants.add("write-any-resource")
    if verbs & {"*", "escalate", "bind"} and resources & ROLE_RESOURCES and groups & {"*", RBAC_GROUP}:
        grants.add("escalate")
    if verbs & {"*", "impersonate"} and resources & IMPERSONATE_RESOURCES and groups & {"*", ""}:
        grants.add("impersonate")
    return grants


def role_grants(rules: Iterable[Any]) -> list[str]:
    """The grants of a role's rules, sorted (empty: none of them)."""
    found: set[str] = set()
    for rule in rules:
        found |= rule_grants(rule)
    return sorted(found)
