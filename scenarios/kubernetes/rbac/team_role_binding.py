"""A team's access granted the way platform teams grant it: narrow roles, built-in view, an operator's own API group."""

from __future__ import annotations

from lab import Lab, LabError
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes.rbac.broad_role_binding import can_i

RBAC = "rbac.authorization.k8s.io"
CRD_GROUP = "reports.example.com"


class TeamRoleBinding(Scenario):
    id = "kubernetes.rbac.team-role-binding"
    title = "A team's service accounts get narrow roles, built-in view, and every verb on their own API group"
    kind = Kind.BENIGN
    techniques = ("T1098.006",)
    backends = ("kubernetes",)
    expect = Expectation(silent=("stowaway.k8s.broad-role", "stowaway.k8s.cluster-admin-binding"), window_s=10)
    twin = "kubernetes.rbac.broad-role-binding"
    tags = ("kubernetes", "rbac")
    description = (
        "Onboards a reports team in the default namespace as clusters usually do it: a Role that reads pods, "
        "services and config maps and rolls out its own Deployments (verbs listed, resources named), a "
        "RoleBinding of the built-in view ClusterRole, and, for the team's operator, a ClusterRole with every "
        f"verb on every resource of its own API group ({CRD_GROUP}: `*` on `*`, the operator pattern, with "
        "the operator's CustomResourceDefinition installed) bound cluster-wide. The scenario checks with "
        "kubectl auth can-i that the accounts may do their job and may not create pods in kube-system. "
        "Neither the role rule nor the binding rule may fire: a wildcard inside a custom API group owns "
        "nothing but that group."
    )

    def detonate(self, lab: Lab) -> None:
        app, operator = lab.name("reports-app"), lab.name("reports-operator")
        for account in (app, operator):
            lab.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                       "metadata": {"name": account, "namespace": "default"}})
        lab.action("grant the reports team its roles")
        lab.apply({"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": app, "namespace": "default"},
                   "rules": [{"apiGroups": [""], "resources": ["pods", "services", "configmaps"],
                              "verbs": ["get", "list", "watch"]},
                             {"apiGroups": ["apps"], "resources": ["deployments"],
                              "verbs": ["get", "list", "watch", "create", "update", "patch"]}]})
        for name, kind, role in ((app, "Role", app), (f"{app}-view", "ClusterRole", "view")):
            lab.apply({"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding",
                       "metadata": {"name": name, "namespace": "default"},
                       "roleRef": {"apiGroup": RBAC, "kind": kind, "name": role},
                       "subjects": [{"kind": "ServiceAccount", "name": app, "namespace": "default"}]})
        # The operator's own resource type, as its chart installs it.
        schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
        lab.apply({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                   "metadata": {"name": f"reportruns.{CRD_GROUP}"},
                   "spec": {"group": CRD_GROUP, "scope": "Namespaced",
                            "names": {"plural": "reportruns", "singular": "reportrun", "kind": "ReportRun"},
                            "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema}]}})
        lab.apply({"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": operator},
                   "rules": [{"apiGroups": [CRD_GROUP], "resources": ["*"], "verbs": ["*"]},
                             {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]}]})
        lab.apply({"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": operator},
                   "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": operator},
                   "subjects": [{"kind": "ServiceAccount", "name": operator, "namespace": "default"}]})

        answers: dict[str, bool] = {}

        def can(account: str, *question: str) -> bool:
            answers[f"{account} {' '.join(question)}"] = can_i(lab, account, *question)
            return answers[f"{account} {' '.join(question)}"]

        try:
            lab.wait_for(lambda: can(app, "patch", "deployments.apps", "-n", "default")
                         and can(operator, "delete", f"reportruns.{CRD_GROUP}", "-n", "kube-system"),
                         timeout=30, what="the team's accounts to get their grants")
        except LabError as exc:
            raise LabError(f"{exc}; kubectl auth can-i said: {answers}") from None
        for account in (app, operator):
            if can(account, "create", "pods", "-n", "kube-system"):
                raise AssertionError(f"{account} may create pods in kube-system: this onboarding grants too much")
