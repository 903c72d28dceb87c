"""Each PolicyRule of a role judged on its own (detectors/sensors/rbac_grants.py), and remembered by the
audit sensor so that a binding to the role carries what the role grants."""

from __future__ import annotations

import pytest

from detectors.sensors.k8s_audit import AuditNormaliser
from detectors.sensors.rbac_grants import role_grants, rule_grants

WRITES = ["get", "list", "create", "update", "patch", "delete"]


@pytest.mark.parametrize(("rule", "grants"), [
    ({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"write-any-resource", "escalate", "impersonate"}),
    ({"apiGroups": ["*"], "resources": ["*"], "verbs": WRITES}, {"write-any-resource"}),
    ({"apiGroups": [""], "resources": ["*"], "verbs": ["create"]}, {"write-any-resource"}),
    ({"apiGroups": ["apps"], "resources": ["*"], "verbs": ["patch"]}, {"write-any-resource"}),
    # Reading everything is not owning it; a wildcard inside an operator's own group owns only that group.
    ({"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}, set()),
    ({"apiGroups": ["reports.example.com"], "resources": ["*"], "verbs": ["*"]}, set()),
    ({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]}, set()),
    ({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]}, {"escalate"}),
    ({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]}, {"escalate"}),
    ({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create"]}, set()),
    ({"apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]}, {"impersonate"}),
    # The built-in edit and admin roles impersonate service accounts in their namespace.
    ({"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}, set()),
    ("not a rule", set()),
    ({"apiGroups": "*", "resources": "*", "verbs": "*"}, set()),  # not lists: not a rule the API server keeps
])
def test_rule_grants(rule, grants):
    assert rule_grants(rule) == grants


def test_rules_are_judged_one_at_a_time():
    # Every verb on config maps and reading everything: merged per field, this would look like "* on *".
    split = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]},
             {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]
    assert role_grants(split) == []


def audit(verb: str, resource: str, name: str, body: dict, code: int = 201, namespace: str = "",
          audit_id: str = "") -> dict:
    return {"kind": "Event", "stage": "ResponseComplete", "auditID": audit_id or f"{verb}-{resource}-{name}",
            "verb": verb, "user": {"username": "kubernetes-admin"},
            "objectRef": {"apiGroup": "rbac.authorization.k8s.io", "resource": resource, "name": name,
                          "namespace": namespace},
            "responseStatus": {"code": code}, "requestObject": body, "responseObject": body}


def cluster_role(name: str, rules: list) -> dict:
    return {"kind": "ClusterRole", "metadata": {"name": name, "uid": f"uid-{name}"}, "rules": rules}


def binding(name: str, role: str, kind: str = "ClusterRoleBinding", role_kind: str = "ClusterRole") -> dict:
    return {"kind": kind, "metadata": {"name": name, "uid": f"uid-{name}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "x", "namespace": "default"}]}


def test_a_binding_carries_the_grants_of_the_role_it_names():
    normaliser = AuditNormaliser()
    role = normaliser.normalise(audit("create", "clusterroles", "exporter",
                                      cluster_role("exporter", [{"apiGroups": ["*"], "resources": ["*"],
                                                                 "verbs": WRITES}])))
    assert role is not None and role["kubernetes.rbac.grants"] == ["write-any-resource"]
    bound = normaliser.normalise(audit("create", "clusterrolebindings", "exporter", binding("exporter", "exporter")))
    assert bound is not None and bound["kubernetes.rbac.role_grants"] == ["write-any-resource"]


def test_a_binding_made_before_its_role_carries_nothing_and_a_deleted_role_is_forgotten():
    normaliser = AuditNormaliser()
    early = normaliser.normalise(audit("create", "clusterrolebindings", "b", binding("b", "later")))
    assert early is not None and "kubernetes.rbac.role_grants" not in early
    wide = cluster_role("later", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
    normaliser.normalise(audit("create", "clusterroles", "later", wide))
    normaliser.normalise(audit("delete", "clusterroles", "later", {"kind": "Status"}, code=200))
    again = normaliser.normalise(audit("update", "clusterrolebindings", "b", binding("b", "later"), code=200))
    assert again is not None and "kubernetes.rbac.role_grants" not in again


def test_a_refused_role_is_not_remembered_and_a_namespaced_role_is_known_in_its_namespace_only():
    normaliser = AuditNormaliser()
    wide = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    refused = normaliser.normalise(audit("create", "clusterroles", "no", cluster_role("no", wide), code=403))
    assert refused is not None and refused["kubernetes.rbac.grants"]  # the attempt is still judged
    after = normaliser.normalise(audit("create", "clusterrolebindings", "no", binding("no", "no")))
    assert after is not None and "kubernetes.rbac.role_grants" not in after
    role = {"kind": "Role", "metadata": {"name": "ops", "namespace": "team"}, "rules": wide}
    normaliser.normalise(audit("create", "roles", "ops", role, namespace="team"))
    same = binding("ops", "ops", kind="RoleBinding", role_kind="Role")
    there = normaliser.normalise(audit("create", "rolebindings", "ops", same, namespace="team"))
    elsewhere = normaliser.normalise(audit("create", "rolebindings", "ops", same, namespace="other",
                                           audit_id="other"))
    assert there is not None and there["kubernetes.rbac.role_grants"]
    assert elsewhere is not None and "kubernetes.rbac.role_grants" not in elsewhere


def test_a_patch_is_judged_on_the_role_as_stored():
    normaliser = AuditNormaliser()
    raw = audit("patch", "clusterroles", "r", cluster_role("r", [{"apiGroups": [""], "resources": ["*"],
                                                                  "verbs": ["delete"]}]), code=200)
    raw["requestObject"] = {"metadata": {"labels": {"team": "x"}}}  # the patch itself holds no rules
    event = normaliser.normalise(raw)
    assert event is not None and event["kubernetes.rbac.grants"] == ["write-any-resource"]
