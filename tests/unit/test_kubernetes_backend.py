"""The Kubernetes backend's translation of a WorkloadSpec into a Pod, and the kind cluster config."""

from __future__ import annotations

import json

import pytest
import yaml

from lab.backends.base import DeployContext, Workload
from lab.backends.kubernetes import LOG_OPT_OUT, KubernetesBackend, pod_manifest
from lab.errors import LabError
from lab.kind.cluster import kind_config, thaw_tree
from lab.kind.recipe import POD_SUBNET, SERVICE_SUBNET, NodeRecipe, go_tools
from lab.networks import LAB_RANGE
from lab.workload import Logging, Mount, Resources, UnsupportedWorkload, WorkloadSpec

CTX = DeployContext(run_id="r1", name="batch-abc123", image="stowaway/base:x", networks={},
                    labels={"io.stowaway.run": "r1"})


def test_plain_spec_becomes_a_pod_on_the_lab_image():
    pod = pod_manifest(WorkloadSpec(role="batch", command=("sleep", "60"), env={"A": "1"}), CTX)
    assert pod["kind"] == "Pod"
    assert pod["metadata"]["name"] == "batch-abc123"
    assert pod["metadata"]["namespace"] == "default"
    container = pod["spec"]["containers"][0]
    assert container["image"] == "stowaway/base:x"
    assert container["command"] == ["sleep", "60"]
    assert container["env"] == [{"name": "A", "value": "1"}]
    assert "securityContext" not in container
    assert not pod["spec"].get("hostPID") and not pod["spec"].get("hostNetwork")


def test_privileges_host_namespaces_and_mounts_map_onto_the_pod_spec():
    spec = WorkloadSpec(role="agent", privileged=True, cap_add=("CAP_NET_ADMIN",), pid_mode="host",
                        network_mode="host", mounts=(Mount(source="/var/log", target="/host/log", read_only=True),),
                        resources=Resources(cpus=0.5, memory_bytes=64 << 20), constraints=("namespace=ops",))
    pod = pod_manifest(spec, CTX)
    container = pod["spec"]["containers"][0]
    assert container["securityContext"] == {"privileged": True, "capabilities": {"add": ["NET_ADMIN"]}}
    assert pod["spec"]["hostPID"] is True and pod["spec"]["hostNetwork"] is True
    assert pod["spec"]["volumes"] == [{"name": "vol-0", "hostPath": {"path": "/var/log"}}]
    assert container["volumeMounts"] == [{"name": "vol-0", "mountPath": "/host/log", "readOnly": True}]
    # Caps, as Docker's: the CPU limit reserves next to nothing, or a two-core worker fits no such pod.
    assert container["resources"] == {"limits": {"cpu": "500m", "memory": str(64 << 20)}, "requests": {"cpu": "10m"}}
    assert pod["metadata"]["namespace"] == "ops"


def test_logging_none_becomes_the_shippers_opt_out_annotations():
    pod = pod_manifest(WorkloadSpec(role="x", logging=Logging(driver="none")), CTX)
    assert pod["metadata"]["annotations"] == LOG_OPT_OUT


@pytest.mark.parametrize("spec", [
    WorkloadSpec(role="x", replicas=3),
    WorkloadSpec(role="x", ip={"lan": "198.18.0.5"}),
    WorkloadSpec(role="x", network_mode="none"),
    WorkloadSpec(role="x", constraints=("zone",)),
    WorkloadSpec(role="x", mounts=(Mount(source="vol", target="/v", type="volume"),)),
    WorkloadSpec(role="x", user="www-data"),
])
def test_what_a_pod_cannot_express_is_refused(spec):
    with pytest.raises(UnsupportedWorkload):
        pod_manifest(spec, CTX)


def test_cluster_addresses_stay_in_the_lab_range_and_the_audit_log_is_wired():
    import ipaddress

    for subnet in (POD_SUBNET, SERVICE_SUBNET):
        assert ipaddress.ip_network(subnet).subnet_of(LAB_RANGE)
    config = yaml.safe_load(kind_config(__import__("pathlib").Path("/a"), __import__("pathlib").Path("/p")))
    assert config["networking"]["podSubnet"] == POD_SUBNET
    node = config["nodes"][0]
    assert {m["containerPath"] for m in node["extraMounts"]} == {"/var/log/kubernetes/audit", "/etc/kubernetes/audit"}
    patch = yaml.safe_load(node["kubeadmConfigPatches"][0])
    assert patch["apiServer"]["extraArgs"]["audit-log-path"] == "/var/log/kubernetes/audit/audit.log"


def test_kubernetes_build_replaces_staging_and_sets_version_ldflags():
    kubernetes = next(t for t in go_tools() if t.name == "kubernetes")
    assert kubernetes.staging_replaces
    assert any("gitVersion=v" + NodeRecipe().kubernetes in flag for flag in kubernetes.ldflags)
    assert NodeRecipe().tag("abc").startswith(f"stowaway/kind-node:v{NodeRecipe().kubernetes}-")


def test_a_docker_run_leaves_kubernetes_only_scenarios_out_and_a_kind_run_takes_only_them():
    from harness.cli import _for_backend
    from harness.runner import scenario_backend
    from scenarios.registry import load

    everything = load().all()
    docker_run = _for_backend(everything, "docker")
    kind_run = _for_backend(everything, "kind")
    assert kind_run and all("kubernetes" in s.backends for s in kind_run)
    assert not any(s.backends == ("kubernetes",) for s in docker_run)
    assert len(docker_run) + len([s for s in everything if s.backends == ("kubernetes",)]) == len(everything)
    assert scenario_backend("kind") == "kubernetes" and scenario_backend("docker") == "docker"


def test_created_objects_reads_one_object_a_list_or_several_documents() -> None:
    from lab.backends.kubernetes import created_objects

    one = {"kind": "Pod", "metadata": {"name": "a"}}
    two = {"kind": "Namespace", "metadata": {"name": "b"}}
    assert created_objects(json.dumps(one)) == [one]
    assert created_objects(json.dumps({"kind": "List", "items": [one, two]})) == [one, two]
    assert created_objects(json.dumps(one, indent=4) + "\n" + json.dumps(two, indent=4) + "\n") == [one, two]
    assert created_objects("") == []


def _fake_kubectl(tmp_path, script: str):
    """A kubectl stand-in (the boundary): the backend only reads its output and stops it."""
    path = tmp_path / "kubectl"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


def test_port_forward_yields_the_local_port_kubectl_chose_and_stops_it(tmp_path):

    marker = tmp_path / "args"
    kubectl = _fake_kubectl(tmp_path, f'echo "$@" > {marker}\n'
                                      'echo "Forwarding from 127.0.0.1:41234 -> 8080"\nexec sleep 30\n')
    backend = KubernetesBackend(tmp_path / "kubeconfig", kubectl=kubectl)
    pod = Workload(id="uid-1", name="web-1", kind="pod", backend="kubernetes")
    with backend.port_forward(pod, 8080) as local:
        assert local == 41234
    args = marker.read_text().split()
    assert args[args.index("--address") + 1] == "127.0.0.1"  # loopback only
    assert args[-2:] == ["pod/web-1", ":8080"]


def test_a_port_forward_that_does_not_start_says_why(tmp_path):

    kubectl = _fake_kubectl(tmp_path, 'echo "error: pods \\"web-1\\" not found" >&2\nexit 1\n')
    backend = KubernetesBackend(tmp_path / "kubeconfig", kubectl=kubectl)
    pod = Workload(id="uid-1", name="web-1", kind="pod", backend="kubernetes")
    with pytest.raises(LabError, match="not found"), backend.port_forward(pod, 8080):
        pass


def test_thaw_tree_thaws_every_frozen_cgroup_under_a_node(tmp_path):
    node = tmp_path / "docker" / "abc"
    pod = node / "kubelet.slice" / "pod1" / "cri-containerd-x.scope"
    pod.mkdir(parents=True)
    for directory, state in ((node, "THAWED"), (node / "kubelet.slice", "THAWED"), (pod, "FROZEN")):
        (directory / "freezer.state").write_text(state + "\n")
    assert thaw_tree("abc", roots=(str(tmp_path / "docker"),)) == 1
    assert (pod / "freezer.state").read_text() == "THAWED"
    assert thaw_tree("other", roots=(str(tmp_path / "docker"),)) == 0
