"""A ClusterRole of one's own as strong as cluster-admin, bound to a new service account."""

from __future__ import annotations

from typing import Any

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

# What the role grants, each a way around a rule that only knows cluster-admin by name, and the
# question (kubectl auth can-i) that shows the account really holds it.
WRITES = ["get", "list", "watch", "create", "update", "patch", "delete"]
GRANTS: dict[str, tuple[list[dict[str, Any]], tuple[str, ...]]] = {
    "wildcard": ([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
                 ("create", "pods", "-n", "kube-system")),
    # Every verb spelt out: no "*" among the verbs for a rule to match.
    "listed-verbs": ([{"apiGroups": ["*"], "resources": ["*"], "verbs": WRITES}],
                     ("create", "pods", "-n", "kube-system")),
    # The core group only: pods, secrets and service accounts everywhere, and no "*" group.
    "core-group": ([{"apiGroups": [""], "resources": ["*"], "verbs": WRITES},
                    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}],
                   ("get", "secrets", "-n", "kube-system")),
    # RBAC's own escalation verbs: bind any role, write roles with powers one does not hold.
    "escalate": ([{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles", "clusterrolebindings"],
                   "verbs": ["get", "list", "create", "bind", "escalate"]}],
                 ("bind", "clusterroles.rbac.authorization.k8s.io")),
}


class BroadRoleBinding(Scenario):
    id = "kubernetes.rbac.broad-role-binding"
    title = "ClusterRole of one's own with cluster-admin's power, bound to a new service account"
    kind = Kind.ADVERSARY
    techniques = ("T1098.006",)
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.broad-role",), within_s=20, may_fire={
        "stowaway.k8s.cluster-admin-binding": "The binding made after the role names a role the sensor saw grant "
                                              "cluster-admin's power; made before it, the role is not known yet.",
    })
    twin = "kubernetes.rbac.team-role-binding"
    tags = ("kubernetes", "persistence", "privilege-escalation")
    dimensions = (
        Dimension("grant", tuple(GRANTS), doc="what the role grants: every verb on every resource with wildcards, "
                  "the same with every verb listed, every resource of the core group only, or RBAC's bind and "
                  "escalate verbs on cluster roles"),
        Dimension("order", ("role-first", "binding-first"), doc="whether the binding is made after the role, or "
                  "first, to a role that does not exist yet (RBAC allows it; the grant starts when the role does)"),
    )
    description = (
        "Thinking as someone who read stowaway.k8s.cluster-admin-binding: it knows cluster-admin by name. "
        "This creates a service account named like a metrics exporter, a ClusterRole of its own whose "
        "single rule grants every verb on every resource in every API group (cluster-admin's rule, under "
        "another name), and a ClusterRoleBinding to it. Variants list the verbs instead of `*`, keep to the "
        "core group (pods and secrets everywhere), grant RBAC's bind and escalate verbs, or make the "
        "binding first. The scenario checks with kubectl auth can-i, as the account, that the grant holds."
    )

    def detonate(self, lab: Lab) -> None:
        rules, question = GRANTS[str(self.variant["grant"])]
        account = lab.name("metrics-exporter")
        lab.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": "default"}})
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": account}, "rules": rules}
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": account},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": "default"}],
        }
        lab.action("create a ClusterRole as strong as cluster-admin and bind a service account to it")
        for manifest in ((role, binding) if self.variant["order"] == "role-first" else (binding, role)):
            lab.apply(manifest)
        lab.wait_for(lambda: can_i(lab, account, *question), timeout=10,
                     what=f"the account to be allowed to {' '.join(question)}")


def can_i(lab: Lab, account: str, *question: str) -> bool:
    """kubectl auth can-i, as a service account of the default namespace. The answer is the first line
    of the output: kubectl's warnings (a verb it does not know, like bind) follow on stderr."""
    out = lab.kubectl("auth", "can-i", *question, f"--as=system:serviceaccount:default:{account}",
                      check=False).output.strip()
    return out.splitlines()[0].strip() == "yes" if out else False
