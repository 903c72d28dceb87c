"""The RBAC and exec rules on raw audit lines recorded from a real kind run (2026-11-30), through the
whole audit normaliser: what the audit sensor computes (a role's grants, remembered for the bindings
to it) is exercised on what the API server really wrote.

raw_rbac_broad_role_binding: kubernetes.rbac.broad-role-binding (canonical: wildcard, role first).
raw_rbac_team_role_binding: kubernetes.rbac.team-role-binding, after the API server's own bootstrap of
the view role and the aggregation controller's rewrites of view, edit and admin.
raw_exec_debug_container / raw_exec_operator_read_only: kubectl debug (a patch of the pod's
ephemeralcontainers) and kubectl port-forward (a get of pods/portforward) on a web server pod.
raw_deploy_kube_proxy_restart / raw_tamper_kube_proxy_sidecar / raw_deploy_kube_proxy_namesake
(2026-12-01): a worker's kube-proxy pod deleted and recreated by its DaemonSet; a sidecar patched into
kube-proxy's DaemonSet (and rolled back), with the pods the controller made from it; a DaemonSet of
one's own in kube-system under kube-proxy's service account, with its pods.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from detectors.engine import DEFAULT_RULE_DIR, DetectionEngine, load_rules
from detectors.policies import DEFAULT_POLICY_DIR, load_policy
from detectors.sensors.k8s_audit import AuditNormaliser

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kubernetes"
BROAD, BINDING, EXEC = "stowaway.k8s.broad-role", "stowaway.k8s.cluster-admin-binding", "stowaway.k8s.exec-into-pod"


def raw(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / f"raw_{name}.audit.jsonl").read_text().splitlines() if line]


def alerts(lines: list[dict], policy_dir: Path = DEFAULT_POLICY_DIR) -> list[tuple[str, str]]:
    """(rule, object) of every alert, the lines normalised and judged in order."""
    normaliser = AuditNormaliser()
    engine = DetectionEngine(load_rules([DEFAULT_RULE_DIR]), load_policy([policy_dir]))
    found = []
    for line in lines:
        event = normaliser.normalise(line)
        if event is not None:
            found += [(a.rule_id, str(a.object)) for a in engine.process(event)]
    return found


@pytest.mark.parametrize(("name", "expected"), [
    ("rbac_broad_role_binding", {BROAD, BINDING}),
    ("exec_debug_container", {EXEC}),
    ("rbac_team_role_binding", set()),
    ("exec_operator_read_only", set()),
    ("tamper_kube_proxy_sidecar", {"stowaway.k8s.system-workload-changed"}),
    ("deploy_kube_proxy_namesake", {"stowaway.k8s.system-namespace-deploy"}),
    ("deploy_kube_proxy_restart", set()),
])
def test_recorded_scenario_raises_exactly_its_rules(name, expected):
    assert {rule for rule, _ in alerts(raw(name))} == expected


def test_the_role_and_the_binding_alert_on_their_own_objects():
    lines = raw("rbac_broad_role_binding")
    uid = {line["objectRef"]["resource"]: line["responseObject"]["metadata"]["uid"] for line in lines}
    assert sorted(alerts(lines)) == [(BROAD, f"clusterrole:{uid['clusterroles']}"),
                                     (BINDING, f"clusterrolebinding:{uid['clusterrolebindings']}")]


def test_a_binding_made_first_leaves_the_role_to_alert():
    lines = raw("rbac_broad_role_binding")
    binding_first = sorted(lines, key=lambda line: line["objectRef"]["resource"] != "clusterrolebindings")
    assert {rule for rule, _ in alerts(binding_first)} == {BROAD}


@pytest.mark.parametrize("verbs", [["*"], ["get", "list", "create", "update", "patch", "delete"], ["create"]])
def test_the_recorded_role_alerts_however_its_verbs_are_spelt(verbs):
    lines = raw("rbac_broad_role_binding")
    for line in lines:
        if line["objectRef"]["resource"] == "clusterroles":
            for body in (line["requestObject"], line["responseObject"]):
                body["rules"][0]["verbs"] = verbs
    assert {rule for rule, _ in alerts(lines)} == {BROAD, BINDING}


def test_the_operator_role_turns_broad_once_its_wildcard_leaves_its_own_group():
    lines = raw("rbac_team_role_binding")
    for line in lines:
        if line["objectRef"]["resource"] == "clusterroles" and line["objectRef"]["name"].startswith("reports-operator"):
            for body in (line["requestObject"], line["responseObject"]):
                body["rules"][0]["apiGroups"] = ["reports.example.com", "apps"]
    assert {rule for rule, _ in alerts(lines)} == {BROAD, BINDING}


def test_the_team_binds_view_which_the_sensor_saw_written_and_found_no_grant_in():
    normaliser = AuditNormaliser()
    events = [e for e in (normaliser.normalise(line) for line in raw("rbac_team_role_binding")) if e is not None]
    view = [e for e in events if e.get("objectRef.name") == "view" and e.get("objectRef.resource") == "clusterroles"]
    assert view and all("kubernetes.rbac.grants" not in e for e in view)
    bound = [e for e in events if e.get("requestObject.roleRef.name") == "view"]
    assert bound and all("kubernetes.rbac.role_grants" not in e for e in bound)


def test_the_kube_proxy_twin_is_silent_because_of_its_sanction(tmp_path):
    """Without the kube-system add-ons sanction the recreated kube-proxy pod raises three alerts: the
    twin exercises the false positive the sanction removes, and the sidecar's pods the same way."""
    policy = tmp_path / "policy"
    shutil.copytree(DEFAULT_POLICY_DIR, policy)
    (tmp_path / "baselines").symlink_to(DEFAULT_POLICY_DIR.parent / "baselines")  # the policy names ../baselines
    path = policy / "kubernetes.yaml"
    text = path.read_text()
    start = text.index("  - name: kube-system-addons")
    path.write_text(text[:start] + text[text.index("approved_deployers:", start):])
    pods = {"stowaway.k8s.privileged-pod", "stowaway.k8s.host-namespace-pod", "stowaway.k8s.hostpath-mount"}
    assert {rule for rule, _ in alerts(raw("deploy_kube_proxy_restart"), policy)} == pods
    assert {rule for rule, _ in alerts(raw("tamper_kube_proxy_sidecar"), policy)} == \
        pods | {"stowaway.k8s.system-workload-changed"}


def test_only_the_sidecar_patch_alerts_not_the_pods_it_makes():
    lines = raw("tamper_kube_proxy_sidecar")
    daemonset = next(line["objectRef"] for line in lines if line["objectRef"]["resource"] == "daemonsets")
    uid = next(line["responseObject"]["metadata"]["uid"] for line in lines
               if line["objectRef"]["resource"] == "daemonsets")
    assert daemonset["name"] == "kube-proxy"
    assert alerts(lines) == [("stowaway.k8s.system-workload-changed", f"daemonset:{uid}")]
