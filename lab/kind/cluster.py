"""A kind cluster on the lab's engine, with the API server's audit log written to a host file.

kind runs on the engine ``DOCKER_HOST`` names (the lab's private one: its runtime wrapper is what
lets ``--privileged`` nodes start here). The node joins a network the lab makes itself before
kind runs (``KIND_EXPERIMENTAL_DOCKER_NETWORK``): internal, labelled with the run, in the lab
range, so the node reaches nothing outside the lab. Because an internal network publishes no
ports, the kubeconfig points at the node's address on that network, which the host reaches
through the bridge directly.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker.errors
import docker.types

from lab import containment
from lab.bookkeeping import RUN_LABEL
from lab.engine import Engine
from lab.errors import LabError
from lab.kind import network as pod_network
from lab.kind.recipe import KIND_VERSION, MAX_PODS, POD_SUBNET, SERVICE_SUBNET, WORKERS, go_tools, state_dir

ASSETS = Path(__file__).parent / "assets" / "cluster"
NODE_AUDIT_DIR = "/var/log/kubernetes/audit"
NODE_POLICY_DIR = "/etc/kubernetes/audit"
KIND_SLOTS = range(100, 128)  # 198.19.100-127.0/24: between the lab's inet slots and the engine pool


def kind_binary() -> Path:
    """The kind built from its Go module (lab/kind/recipe.py); the PATH one as a fallback."""
    tool = next(t for t in go_tools() if t.name == "kind")
    built = state_dir() / "bin" / f"kind-{tool.key()}" / "kind"
    if built.exists():
        return built
    found = shutil.which("kind")
    if found:
        return Path(found)
    raise LabError(f"kind {KIND_VERSION} is not built yet: run `nox -s kind-image`")


def kubectl_binary() -> Path:
    tool = next(t for t in go_tools() if t.name == "kubernetes")
    built = state_dir() / "bin" / f"kubernetes-{tool.key()}" / "kubectl"
    if built.exists():
        return built
    found = shutil.which("kubectl")
    if found:
        return Path(found)
    raise LabError("kubectl is missing: run `nox -s kind-image` (it builds kubectl) or install one")


def kind_config(audit_dir: Path, policy_dir: Path, workers: int = WORKERS) -> str:
    # kind 0.30 generates kubeadm v1beta3 for 1.34, so the patch uses v1beta3's map-style extraArgs.
    return f"""kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  disableDefaultCNI: true   # the lab sets up pod networking itself (lab/kind/network.py)
  kubeProxyMode: iptables   # Services route through kube-proxy (its image: the node base + the binary)
  podSubnet: {POD_SUBNET}
  serviceSubnet: {SERVICE_SUBNET}
kubeadmConfigPatches:
  - |
    kind: KubeletConfiguration
    maxPods: {MAX_PODS}
nodes:
  - role: control-plane
    extraMounts:
      - hostPath: {audit_dir}
        containerPath: {NODE_AUDIT_DIR}
      - hostPath: {policy_dir}
        containerPath: {NODE_POLICY_DIR}
        readOnly: true
    kubeadmConfigPatches:
      - |
        kind: ClusterConfiguration
        apiServer:
          extraArgs:
            audit-policy-file: {NODE_POLICY_DIR}/policy.yaml
            audit-log-path: {NODE_AUDIT_DIR}/audit.log
            audit-log-format: json
            audit-log-maxsize: "100"
            audit-log-maxbackup: "1"
          extraVolumes:
            - name: audit-policy
              hostPath: {NODE_POLICY_DIR}
              mountPath: {NODE_POLICY_DIR}
              readOnly: true
              pathType: Directory
            - name: audit-log
              hostPath: {NODE_AUDIT_DIR}
              mountPath: {NODE_AUDIT_DIR}
              pathType: DirectoryOrCreate
""" + "".join("  - role: worker\n" for _ in range(workers))


@dataclass(slots=True)
class KindCluster:
    """One kind cluster of one run. ``create`` and ``delete`` are safe to call after a failure."""

    engine: Engine
    run_id: str
    image: str
    workdir: Path  # lab-owned: kind config, kubeconfig, audit log, policy
    name: str = ""
    network: str = ""
    node_address: str = ""  # the control plane's, where the API server answers
    workers: int = WORKERS
    nodes: list[str] = field(default_factory=list)  # node names, which are their containers' names

    def __post_init__(self) -> None:
        self.name = self.name or f"stw-{self.run_id[-6:]}"
        self.network = self.network or f"{self.name}-kind"

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit" / "audit.log"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def node_container(self) -> str:
        return f"{self.name}-control-plane"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.engine.base_url
        env["KIND_EXPERIMENTAL_DOCKER_NETWORK"] = self.network
        env["PATH"] = f"{Path(shutil.which('docker') or '/usr/bin/docker').parent}:{env.get('PATH', '')}"
        return env

    def _kind(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(kind_binary()), *args], env=self._env(), capture_output=True, text=True,
                              timeout=timeout, check=False)

    def _make_network(self) -> str:
        client = self.engine.client
        with contextlib.suppress(docker.errors.NotFound):
            existing = client.networks.get(self.network)
            return existing.attrs["IPAM"]["Config"][0]["Subnet"]
        used = set()
        for network in client.networks.list():
            for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
                if config.get("Subnet"):
                    used.add(ipaddress.ip_network(config["Subnet"], strict=False))
        for slot in KIND_SLOTS:
            subnet = ipaddress.ip_network(f"198.19.{slot}.0/24")
            if any(subnet.overlaps(u) for u in used):
                continue
            try:
                ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet))])
                client.networks.create(self.network, driver="bridge", internal=True, ipam=ipam,
                                       labels={RUN_LABEL: self.run_id},
                                       options={"com.docker.network.bridge.name": self.network[:15]})
                return str(subnet)
            except docker.errors.APIError as exc:
                if "overlap" in str(exc).lower():
                    continue
                raise LabError(f"could not create the kind network: {exc}") from exc
        raise LabError("every kind network slot (198.19.100-127.0/24) is in use")

    def create(self, timeout: float = 600) -> KindCluster:
        (self.workdir / "audit").mkdir(parents=True, exist_ok=True)
        policy_dir = self.workdir / "policy"
        policy_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ASSETS / "audit-policy.yaml", policy_dir / "policy.yaml")
        config = self.workdir / "kind.yaml"
        config.write_text(kind_config(self.workdir / "audit", policy_dir))
        self._make_network()
        # Pods on different nodes talk over this network with pod addresses (lab/kind/network.py).
        containment.allow_within_bridge(self.run_id, self.network[:15])
        started = time.monotonic()
        result = self._kind("create", "cluster", "--name", self.name, "--image", self.image, "--config", str(config),
                            "--kubeconfig", str(self.workdir / "kubeconfig.kind"), "--retain", "-v", "1",
                            timeout=timeout)
        failure = ""
        if result.returncode != 0:
            # kind's last step exports a kubeconfig for the host port it published for the API server.
            # An internal network publishes no ports, so that step alone fails, after every node step
            # (kubeadm init, storage) has succeeded. The node's own address works: try it before failing.
            failure = (f"kind create cluster failed after {time.monotonic() - started:.0f}s:\n"
                       f"{result.stderr[-3000:]}\n--- node log tail ---\n{self.node_logs()}")
        try:
            node = self.engine.client.containers.get(self.node_container)
            self.node_address = node.attrs["NetworkSettings"]["Networks"][self.network]["IPAddress"]
            self._write_kubeconfig()
            self._wait_ready(timeout=120 if not failure else 20)
        except (LabError, docker.errors.NotFound, KeyError) as exc:
            raise LabError(failure or f"the kind cluster does not answer: {exc}") from exc
        self.nodes = [n.name for n in pod_network.configure(self.kubectl, self._node_shell, expected=1 + self.workers)]
        return self

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(kubectl_binary()), "--kubeconfig", str(self.kubeconfig), *args], input=input,
                                capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise LabError(f"kubectl {' '.join(args)} failed: {result.stderr[-1500:]}")
        return result

    def _node_shell(self, node: str, script: str) -> tuple[int, str]:
        result = self.engine.cli("exec", "-i", node, "sh", "-s", input=script.encode())
        return result.returncode, (result.stdout + result.stderr).decode(errors="replace")

    def _wait_ready(self, timeout: float) -> None:
        """Until the API server answers /readyz through the kubeconfig the lab will use."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            result = self.kubectl("get", "--raw", "/readyz", check=False, timeout=30)
            if result.returncode == 0 and result.stdout.strip() == "ok":
                return
            last = (result.stdout + result.stderr).strip()[-500:]
            time.sleep(1)
        raise LabError(f"the API server at {self.node_address}:6443 is not ready: {last}")

    def _write_kubeconfig(self) -> None:
        # The node's own view (https://<node>:6443) with the node's address: reachable on an internal
        # network, and covered by the API server certificate (kubeadm adds the advertise address).
        internal = self._kind("get", "kubeconfig", "--internal", "--name", self.name)
        if internal.returncode != 0:
            raise LabError(f"kind get kubeconfig failed: {internal.stderr}")
        text = internal.stdout.replace(f"https://{self.node_container}:6443", f"https://{self.node_address}:6443")
        self.kubeconfig.write_text(text)
        self.kubeconfig.chmod(0o600)

    def node_logs(self, lines: int = 60) -> str:
        result = self.engine.cli("logs", "--tail", str(lines), self.node_container)
        return (result.stdout + result.stderr).decode(errors="replace")

    def load_image(self, tag: str) -> None:
        """Copy a lab image from the engine into the node's containerd (offline: docker save + ctr import)."""
        result = self._kind("load", "docker-image", "--name", self.name, tag, timeout=900)
        if result.returncode != 0:
            raise LabError(f"kind load docker-image {tag} failed: {result.stderr[-2000:]}")

    def connect(self, network_name: str) -> dict[str, str]:
        """Give every node a leg on a lab network (the lab internet, for pods' egress). Returns each
        node's address on it."""
        network = self.engine.client.networks.get(network_name)
        addresses = {}
        for name in self.nodes or [self.node_container]:
            with contextlib.suppress(docker.errors.APIError):
                network.connect(name)
            node = self.engine.client.containers.get(name)
            addresses[name] = node.attrs["NetworkSettings"]["Networks"][network_name]["IPAddress"]
        return addresses

    def delete(self) -> None:
        for node_id in self._node_ids():
            thaw_tree(node_id)  # a pod left frozen (a hold, or runc killed mid-kill) would outlive its node
        result = self._kind("delete", "cluster", "--name", self.name, timeout=300)
        # kind failed half-way: every node it made carries its cluster label. A node the engine could not
        # kill is thawed again first: runc freezes a container's cgroup to kill it, and a runc that dies
        # in between (its node going down under it) leaves the cgroup frozen and the node unkillable
        # (measured: a bench cluster with 200 pods, 2026-11-30).
        for node_id in self._node_ids():
            thaw_tree(node_id)
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                self.engine.client.containers.get(node_id).remove(force=True, v=True)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            self.engine.client.networks.get(self.network).remove()
        containment.remove_within_bridge(self.run_id, self.network[:15])
        if result.returncode != 0 and "not found" not in result.stderr.lower():
            raise LabError(f"kind delete cluster failed: {result.stderr[-1000:]}")

    def _node_ids(self) -> list[str]:
        with contextlib.suppress(docker.errors.APIError):
            return [str(c.id) for c in self.engine.client.containers.list(
                all=True, filters={"label": f"io.x-k8s.kind.cluster={self.name}"})]
        return []

    def describe(self) -> str:
        return json.dumps({"name": self.name, "node": self.node_address, "kubeconfig": str(self.kubeconfig),
                           "audit_log": str(self.audit_log)})


FREEZER_ROOTS = ("/sys/fs/cgroup/freezer/docker", "/sys/fs/cgroup/freezer/system.slice")


def thaw_tree(container_id: str, roots: tuple[str, ...] = FREEZER_ROOTS) -> int:
    """Thaw every frozen cgroup under a node container's freezer cgroup (cgroup v1); how many were.
    Nothing under it can die while frozen, and so neither can the node."""
    thawed = 0
    for root in roots:
        for top in (Path(root) / container_id, Path(root) / f"docker-{container_id}.scope"):
            if not top.is_dir():
                continue
            for state in top.rglob("freezer.state"):
                with contextlib.suppress(OSError):
                    if state.read_text().strip() != "THAWED":
                        state.write_text("THAWED")
                        thawed += 1
    return thawed
