"""A new service account bound to cluster-admin: a standing key to the whole cluster."""

from __future__ import annotations

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario


class ClusterAdminBinding(Scenario):
    id = "kubernetes.rbac.cluster-admin-binding"
    title = "Service account bound to cluster-admin"
    kind = Kind.ADVERSARY
    techniques = ("T1098.006",)
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.cluster-admin-binding",), within_s=20)
    tags = ("kubernetes", "persistence", "privilege-escalation")
    description = (
        "Creates a service account named like a backup job in the default namespace and a "
        "ClusterRoleBinding that gives it cluster-admin. The scenario checks with kubectl auth can-i "
        "that the account may now do anything anywhere."
    )

    def detonate(self, lab: Lab) -> None:
        account = lab.name("backup")
        lab.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": "default"}})
        lab.action("bind a service account to cluster-admin")
        lab.apply({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": account},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": "default"}],
        })
        answer = lab.kubectl("auth", "can-i", "*", "*", "--all-namespaces",
                             f"--as=system:serviceaccount:default:{account}", check=False).output.strip()
        if answer != "yes":
            raise AssertionError(f"the binding did not make the account cluster-admin: {answer!r}")
