"""Kubernetes sanctions bound to provenance, each against the adversary that forges the rest.

Every case is a recorded audit event from a real kind run (tests/fixtures/kubernetes/): the genuine
one (the twin, as the platform does it) is sanctioned, the forged one (the adversary that copies what
the twin shows without its provenance) is not, and the policy loader refuses a match that binds to
nothing the platform controls, naming the file and the field.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest

from detectors.policies import PolicyError, load_policy
from detectors.policy_kinds.kubernetes import K8sMatch
from detectors.sensors.k8s_audit import AuditNormaliser, K8sAuditSensor

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kubernetes"
POLICY_DIR = Path(__file__).parents[2] / "detectors" / "policy"
DEPLOYER = "system:serviceaccount:platform:deployer"
DAEMONSET_CONTROLLER = "system:serviceaccount:kube-system:daemon-set-controller"


def events(name: str) -> list[dict]:
    return json.loads((FIXTURES / f"{name}.events.json").read_text())


def raw_lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / f"raw_{name}.audit.jsonl").read_text().splitlines()
            if line.strip()]


def created(name: str, resource: str, namespace: str | None = None) -> list[dict]:
    """The create events (no subresource) of one resource in a fixture."""
    found = [e for e in events(name) if e.get("verb") == "create" and e.get("objectRef.resource") == resource
             and not e.get("objectRef.subresource")
             and (namespace is None or e.get("objectRef.namespace") == namespace)]
    assert found, f"{name} holds no create of {resource}"
    return found


def enriched(event: dict) -> dict:
    return load_policy().enrich(copy.deepcopy(event))


# --- node-agents: the DaemonSet controller's identity, not the pod's ownerReferences ---------------

def test_node_agent_pod_made_by_the_daemonset_controller_is_sanctioned():
    for pod in created("deploy_node_agent_daemonset", "pods", "platform-agents"):
        assert pod["user.username"] == DAEMONSET_CONTROLLER
        event = enriched(pod)
        assert event["policy.k8s.workload_sanctioned"] is True
        assert event["policy.k8s.workload_sanction"] == "node-agents"


def test_bare_pod_with_the_agents_owner_reference_is_not_sanctioned():
    bare = [e for e in created("escape_bare_agent_pod", "pods", "platform-agents")
            if e["user.username"] != DAEMONSET_CONTROLLER]
    assert bare, "the fixture holds the bare pod its creator made"
    for pod in bare:
        # Everything the old sanction read is there: the namespace, the DaemonSet owner, the account.
        assert pod["requestObject.metadata.ownerReferences.kind"] == "DaemonSet"
        assert pod["requestObject.metadata.ownerReferences.name"] == "node-agent"
        assert pod["requestObject.spec.serviceAccountName"] == "node-agent"
        assert pod["kubernetes.pod.privileged"] and pod["kubernetes.pod.hostPID"] and pod["hostPath"] == ["/"]
        assert enriched(pod)["policy.k8s.workload_sanctioned"] is False


def test_the_bare_pods_alerts_name_the_pod_not_the_daemonset_it_claims():
    for pod in created("escape_bare_agent_pod", "pods", "platform-agents"):
        if pod["user.username"] == DAEMONSET_CONTROLLER:
            assert pod["kubernetes.object.ref"].startswith("daemonset:")
        else:
            assert pod["kubernetes.object.ref"] == pod["kubernetes.object.own_ref"]
            assert pod["kubernetes.object.ref"].startswith("pod:")


def test_the_sensor_follows_an_owner_reference_only_when_the_control_plane_wrote_it():
    lines = raw_lines("escape_bare_agent_pod")
    pods = [r for r in lines if r["verb"] == "create" and r["objectRef"]["resource"] == "pods"
            and not r["objectRef"].get("subresource")]
    genuine = next(r for r in pods if r["user"]["username"] == DAEMONSET_CONTROLLER)
    bare = next(r for r in pods if r["user"]["username"] != DAEMONSET_CONTROLLER)
    normaliser = AuditNormaliser()
    assert normaliser.normalise(genuine)["kubernetes.object.ref"].startswith("daemonset:")
    assert normaliser.normalise(bare)["kubernetes.object.ref"] == f"pod:{bare['responseObject']['metadata']['uid']}"
    # Someone impersonating the controller is still someone else: the owner is not followed.
    posing = copy.deepcopy(bare)
    posing["auditID"] += "-as"
    posing["impersonatedUser"] = {"username": DAEMONSET_CONTROLLER}
    assert AuditNormaliser().normalise(posing)["kubernetes.object.ref"].startswith("pod:")


def test_impersonating_the_daemonset_controller_borrows_nothing():
    pod = copy.deepcopy(created("deploy_node_agent_daemonset", "pods", "platform-agents")[0])
    pod["impersonatedUser.username"] = pod["user.username"]
    pod["user.username"] = "kubernetes-admin"
    assert enriched(pod)["policy.k8s.workload_sanctioned"] is False


# --- platform-deployer: the authenticated user, impersonation judged on both identities ----------

def test_the_platform_deployers_rollout_is_approved():
    deployment = created("deploy_deployer_rollout", "deployments", "kube-system")[0]
    assert deployment["user.username"] == DEPLOYER
    assert enriched(deployment)["policy.k8s.deployer_approved"] is True


def test_a_deployer_account_in_another_namespace_is_not_approved():
    deployment = created("deploy_deployer_namesake", "deployments", "kube-system")[0]
    assert deployment["user.username"].endswith(":deployer") and deployment["user.username"] != DEPLOYER
    assert enriched(deployment)["policy.k8s.deployer_approved"] is False


def test_impersonating_the_deployer_is_judged_by_the_real_user():
    deployment = created("deploy_impersonated_deployer", "deployments", "kube-system")[0]
    assert deployment["impersonatedUser.username"] == DEPLOYER  # RBAC judged the request as the deployer...
    assert deployment["user.username"] == "kubernetes-admin"  # ...but the admin's credential made it
    assert enriched(deployment)["policy.k8s.deployer_approved"] is False


def test_the_deployer_impersonating_someone_else_is_not_approved():
    deployment = copy.deepcopy(created("deploy_deployer_rollout", "deployments", "kube-system")[0])
    deployment["impersonatedUser.username"] = "system:serviceaccount:tooling:deployer"
    assert enriched(deployment)["policy.k8s.deployer_approved"] is False
    deployment["impersonatedUser.username"] = DEPLOYER  # as itself: still the deployer
    assert enriched(deployment)["policy.k8s.deployer_approved"] is True


# --- dev-namespaces: who created the namespace, as the audit log showed it ------------------------

def test_pods_in_a_dev_namespace_the_deployer_created_are_sanctioned():
    pods = created("logging_dev_namespace_minimal", "pods")
    for pod in pods:
        assert pod["objectRef.namespace"].startswith("dev-")
        assert pod["user.username"] == "kubernetes-admin"  # a developer runs them...
        assert pod["kubernetes.namespace_creator.username"] == DEPLOYER  # ...in what the platform made
        assert enriched(pod)["policy.k8s.logging_sanctioned"] is True


def test_pods_in_a_dev_namespace_made_by_hand_are_not_sanctioned():
    for pod in created("logging_self_provisioned_dev_namespace", "pods"):
        assert pod["objectRef.namespace"].startswith("dev-")
        assert pod["kubernetes.namespace_creator.username"] == "kubernetes-admin"
        assert enriched(pod)["policy.k8s.logging_sanctioned"] is False


def test_a_dev_namespace_whose_creation_was_not_seen_is_not_sanctioned():
    pod = copy.deepcopy(created("logging_dev_namespace_minimal", "pods")[0])
    del pod["kubernetes.namespace_creator.username"]
    assert enriched(pod)["policy.k8s.logging_sanctioned"] is False


def test_a_dev_namespace_created_by_impersonating_the_deployer_is_not_sanctioned():
    pod = copy.deepcopy(created("logging_dev_namespace_minimal", "pods")[0])
    pod["kubernetes.namespace_creator.username"] = "kubernetes-admin"
    pod["kubernetes.namespace_creator.impersonated_username"] = DEPLOYER
    assert enriched(pod)["policy.k8s.logging_sanctioned"] is False


def _namespace_and_pod(name: str) -> tuple[dict, dict]:
    lines = raw_lines(name)
    namespace = next(r for r in lines if r["verb"] == "create" and r["objectRef"]["resource"] == "namespaces")
    pod = next(r for r in lines if r["verb"] == "create" and r["objectRef"]["resource"] == "pods"
               and not r["objectRef"].get("subresource"))
    return namespace, pod


def _renamed(raw: dict, suffix: str, **changes: object) -> dict:
    copied = copy.deepcopy(raw)
    copied["auditID"] += suffix
    copied.update(changes)
    return copied


def test_the_sensor_remembers_who_created_each_namespace():
    namespace, pod = _namespace_and_pod("logging_dev_namespace_minimal")
    assert namespace["user"]["username"] == DEPLOYER
    normaliser = AuditNormaliser()
    assert "kubernetes.namespace_creator.username" not in normaliser.normalise(_renamed(pod, "-early"))
    normaliser.normalise(namespace)
    event = normaliser.normalise(pod)
    assert event["kubernetes.namespace_creator.username"] == DEPLOYER
    assert "kubernetes.namespace_creator.impersonated_username" not in event


def test_a_refused_create_does_not_claim_a_namespace():
    namespace, pod = _namespace_and_pod("logging_dev_namespace_minimal")
    normaliser = AuditNormaliser()
    normaliser.normalise(namespace)
    # Someone else tries to create the same name after the deployer: 409, and nothing changes.
    again = _renamed(namespace, "-again", user={"username": "kubernetes-admin"},
                     responseStatus={"code": 409, "reason": "AlreadyExists"}, responseObject={"kind": "Status"})
    normaliser.normalise(again)
    assert normaliser.normalise(pod)["kubernetes.namespace_creator.username"] == DEPLOYER


def test_a_namespace_deleted_and_made_again_belongs_to_its_new_creator():
    namespace, pod = _namespace_and_pod("logging_dev_namespace_minimal")
    normaliser = AuditNormaliser()
    normaliser.normalise(namespace)
    normaliser.normalise(_renamed(namespace, "-delete", verb="delete", responseStatus={"code": 200}))
    assert "kubernetes.namespace_creator.username" not in normaliser.normalise(_renamed(pod, "-between"))
    normaliser.normalise(_renamed(namespace, "-remade", user={"username": "kubernetes-admin"},
                                  impersonatedUser={"username": DEPLOYER}))
    event = normaliser.normalise(_renamed(pod, "-after"))
    assert event["kubernetes.namespace_creator.username"] == "kubernetes-admin"
    assert event["kubernetes.namespace_creator.impersonated_username"] == DEPLOYER


def test_the_sensor_learns_namespaces_created_before_it_started(tmp_path):
    namespace, pod = _namespace_and_pod("logging_dev_namespace_minimal")
    log = tmp_path / "audit.log"
    log.write_text(json.dumps(namespace) + "\n")
    sensor = K8sAuditSensor(log, poll=0.02)
    emitted: list[dict] = []
    sensor.start(emitted.append)
    try:
        with open(log, "a") as handle:
            handle.write(json.dumps(pod) + "\n")
        deadline = time.monotonic() + 5
        while not emitted and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sensor.stop()
    assert [e["verb"] for e in emitted] == ["create"]  # the namespace line was learned, not emitted
    assert emitted[0]["kubernetes.namespace_creator.username"] == DEPLOYER
    assert sensor.stats["learned"] == 1


# --- the loader: a match must bind to provenance; errors name the file and the field --------------

def _policy(tmp_path: Path, section: str, match: str) -> Path:
    (tmp_path / "k.yaml").write_text(f"kind: kubernetes\n{section}:\n  - name: x\n    description: d\n"
                                     f"    owner: o\n    match: {match}\n")
    return tmp_path / "k.yaml"


@pytest.mark.parametrize(("section", "match", "field", "words"), [
    ("sanctioned_workloads", "{namespaces: [platform-agents], controllers: [DaemonSet]}",
     "sanctioned_workloads[0].match.controllers", "ownerReferences"),
    ("sanctioned_minimal_logging", "{namespaces: ['dev-*']}",
     "sanctioned_minimal_logging[0].match.namespaces", "namespace_creators"),
    ("sanctioned_workloads", "{service_accounts: [node-agent]}",
     "sanctioned_workloads[0].match", "binds to nothing"),
    ("approved_deployers", "{users: ['system:serviceaccount:*:deployer']}",
     "approved_deployers[0].match.users[0]", "namespace is its provenance"),
    ("approved_deployers", "{users: ['*']}", "approved_deployers[0].match.users[0]", "any identity"),
    ("sanctioned_minimal_logging", "{namespaces: ['dev-*'], namespace_creators: ['*:deployer']}",
     "sanctioned_minimal_logging[0].match.namespace_creators[0]", "any identity"),
    ("sanctioned_minimal_logging", "{namespaces: ['dev-*'], namespace_creators: deployer}",
     "sanctioned_minimal_logging[0].match.namespace_creators", "expected list"),
    ("sanctioned_minimal_logging", "{namespaces: ['dev-*'], namespace_creators: [7]}",
     "sanctioned_minimal_logging[0].match.namespace_creators[0]", "expected str"),
])
def test_the_loader_refuses_a_match_without_provenance(tmp_path, section, match, field, words):
    path = _policy(tmp_path, section, match)
    with pytest.raises(PolicyError) as caught:
        load_policy([tmp_path])
    assert caught.value.path == str(path)
    assert caught.value.field == field
    assert words in str(caught.value)


@pytest.mark.parametrize("match", [
    "{namespaces: [platform-agents]}",  # an exact namespace: the platform made it and guards it
    "{users: ['system:serviceaccount:kube-system:*']}",  # a glob within one RBAC-guarded namespace
    "{namespaces: ['dev-*'], namespace_creators: ['system:serviceaccount:platform:deployer']}",
])
def test_the_loader_accepts_a_match_bound_to_provenance(tmp_path, match):
    _policy(tmp_path, "sanctioned_workloads", match)
    load_policy([tmp_path])


def test_the_shipped_sanctions_bind_to_provenance():
    section = load_policy([POLICY_DIR]).section("kubernetes")
    matches = {s.name: s.match for sanctions in section.sanctions.values() for s in sanctions}
    assert matches["node-agents"] == K8sMatch(namespaces=("platform-agents",), users=(DAEMONSET_CONTROLLER,),
                                              service_accounts=("node-agent",))
    assert matches["platform-deployer"] == K8sMatch(users=(DEPLOYER,))
    assert matches["dev-namespaces"] == K8sMatch(namespaces=("dev-*",), namespace_creators=(DEPLOYER,))

