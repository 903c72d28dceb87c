"""The Kubernetes backend: a WorkloadSpec becomes one Pod, on a kind cluster or any kubeconfig.

It talks to the cluster only through ``kubectl`` with an explicit kubeconfig, so the same code
drives the lab's kind cluster and a user's real cluster. The spec's fields map to the Pod the way
an operator would write it:

- ``privileged``, ``cap_add``/``cap_drop``, ``user``, ``read_only_rootfs`` -> the container's
  ``securityContext``; ``network_mode="host"``/``pid_mode="host"``/``ipc_mode="host"`` ->
  ``hostNetwork``/``hostPID``/``hostIPC``;
- bind mounts -> ``hostPath`` volumes (paths on the *node*), tmpfs -> a memory ``emptyDir``;
- ``Logging(driver="none")`` -> the opt-out annotations log shippers honour
  (``fluentbit.io/exclude``, ``co.elastic.logs/enabled``); ``Logging.options`` become annotations;
- ``constraints``: ``namespace=<ns>``, ``serviceAccount=<sa>``, ``node=<name>`` (placement);
- lab networks: a Pod lives on the pod network; its address is reported under ``"pod"``.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from lab.backends.base import DeployContext, ExecResult, Workload
from lab.errors import LabError
from lab.waiting import poll
from lab.workload import UnsupportedWorkload, WorkloadSpec

DEFAULT_NAMESPACE = "default"
LOG_OPT_OUT = {"fluentbit.io/exclude": "true", "co.elastic.logs/enabled": "false"}


def _constraints(spec: WorkloadSpec) -> dict[str, str]:
    found = {}
    for item in spec.constraints:
        key, sep, value = item.partition("=")
        if not sep:
            raise UnsupportedWorkload(f"constraint {item!r}: the kubernetes backend wants key=value")
        found[key.strip()] = value.strip()
    unknown = set(found) - {"namespace", "serviceAccount", "node"}
    if unknown:
        raise UnsupportedWorkload(f"unknown constraints {sorted(unknown)}: use namespace=, serviceAccount=, node=")
    return found


def _resource_name(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:63]


def pod_manifest(spec: WorkloadSpec, ctx: DeployContext) -> dict[str, Any]:
    """The Pod for a spec (pure: unit-tested without a cluster)."""
    if spec.replicas != 1:
        raise UnsupportedWorkload("a Pod is one replica; make a Deployment through kubectl for more")
    if spec.ip:
        raise UnsupportedWorkload("fixed addresses are not expressible on the pod network")
    if spec.network_mode not in (None, "host"):
        raise UnsupportedWorkload(f"network_mode {spec.network_mode!r}: a Pod has the pod network or the host's")
    placement = _constraints(spec)
    security: dict[str, Any] = {}
    if spec.privileged:
        security["privileged"] = True
    caps: dict[str, list[str]] = {}
    if spec.cap_add:
        caps["add"] = [c.removeprefix("CAP_") for c in spec.cap_add]
    if spec.cap_drop:
        caps["drop"] = [c.removeprefix("CAP_") for c in spec.cap_drop]
    if caps:
        security["capabilities"] = caps
    if spec.read_only_rootfs:
        security["readOnlyRootFilesystem"] = True
    if spec.user is not None:
        uid = spec.user.split(":", 1)[0]
        if not uid.isdigit():
            raise UnsupportedWorkload(f"user {spec.user!r}: a Pod runs as a numeric uid")
        security["runAsUser"] = int(uid)
    volumes, mounts = [], []
    for i, mount in enumerate(spec.mounts):
        name = f"vol-{i}"
        if mount.type == "bind":
            volumes.append({"name": name, "hostPath": {"path": mount.source}})
        elif mount.type == "tmpfs":
            volumes.append({"name": name, "emptyDir": {"medium": "Memory"}})
        else:
            raise UnsupportedWorkload(f"mount type {mount.type!r}: only bind (hostPath) and tmpfs map onto a Pod")
        mounts.append({"name": name, "mountPath": mount.target, "readOnly": mount.read_only})
    container: dict[str, Any] = {
        "name": _resource_name(spec.role) or "main",
        "image": spec.image or ctx.image,
        "imagePullPolicy": "IfNotPresent",  # images are loaded into the nodes; nothing is pulled
        "env": [{"name": k, "value": v} for k, v in spec.env.items()],
        "volumeMounts": mounts,
    }
    if spec.command:  # none given: the image's own command
        container["command"] = list(spec.command)
    if security:
        container["securityContext"] = security
    if spec.workdir:
        container["workingDir"] = spec.workdir
    limits = {}
    if spec.resources.cpus:
        limits["cpu"] = f"{int(spec.resources.cpus * 1000)}m"
    if spec.resources.memory_bytes:
        limits["memory"] = str(spec.resources.memory_bytes)
    if limits:
        # A spec's resources are caps, as Docker's --cpus and --memory are (a CFS quota, a memory
        # limit); Docker reserves nothing. A limit alone makes Kubernetes reserve as much, and two
        # cores reserved on a two-core worker leave the pod unschedulable: reserve next to nothing.
        container["resources"] = {"limits": limits}
        if "cpu" in limits:
            container["resources"]["requests"] = {"cpu": "10m"}
    annotations = dict(spec.logging.options)
    if spec.logging.driver == "none":
        annotations.update(LOG_OPT_OUT)
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "volumes": volumes,
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 1,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
    }
    if spec.network_mode == "host":
        pod_spec["hostNetwork"] = True
    if spec.pid_mode == "host":
        pod_spec["hostPID"] = True
    if spec.ipc_mode == "host":
        pod_spec["hostIPC"] = True
    if spec.extra_hosts:
        pod_spec["hostAliases"] = [{"ip": ip, "hostnames": [host]} for host, ip in spec.extra_hosts.items()]
    if spec.dns:
        pod_spec["dnsConfig"] = {"nameservers": list(spec.dns)}
        pod_spec["dnsPolicy"] = "None"
    if "serviceAccount" in placement:
        pod_spec["serviceAccountName"] = placement["serviceAccount"]
    if "node" in placement:
        pod_spec["nodeName"] = placement["node"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": ctx.name,
            "namespace": placement.get("namespace", DEFAULT_NAMESPACE),
            "labels": {**{k: _label_value(v) for k, v in spec.labels.items()},
                       **{k: _label_value(v) for k, v in ctx.labels.items()}},
            "annotations": annotations,
        },
        "spec": pod_spec,
    }


def created_objects(text: str) -> list[dict[str, Any]]:
    """What ``kubectl create -o json`` printed: one List, one object, or (for a List of several
    objects) each object as its own JSON document, one after another."""
    decoder, at = json.JSONDecoder(), 0
    found: list[dict[str, Any]] = []
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            break
        data, at = decoder.raw_decode(text, at)
        found.extend(data.get("items", [data]) if data.get("kind") == "List" else [data])
    return found


def _label_value(value: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in value)[:63].strip("-_.")


class KubernetesBackend:
    name: ClassVar[str] = "kubernetes"

    def __init__(self, kubeconfig: Path | str, kubectl: Path | str = "kubectl", ready_timeout: float = 120) -> None:
        self.kubeconfig = str(kubeconfig)
        self.kubectl = str(kubectl)
        self.ready_timeout = ready_timeout
        self._namespaces: dict[str, str] = {}  # pod uid -> namespace (Workload carries no namespace)

    # --- kubectl ------------------------------------------------------------------------------
    def run(self, *args: str, input: str | None = None, timeout: float = 120,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this backend's cluster. Raises LabError on failure when ``check``."""
        result = subprocess.run([self.kubectl, "--kubeconfig", self.kubeconfig, *args], input=input,
                                capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            detail = result.stderr.strip()[-1500:]
            raise LabError(f"kubectl {' '.join(args[:3])} failed ({result.returncode}): {detail}")
        return result

    def apply(self, manifest: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create objects; returns them as the API server stored them.

        ``kubectl create``, not ``apply``: apply copies the whole manifest, the lab's bookkeeping label
        included, into an annotation that every audit event of the object would then carry.
        """
        items = manifest if isinstance(manifest, list) else [manifest]
        doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        out = self.run("create", "-o", "json", "-f", "-", input=doc).stdout
        return created_objects(out)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "-o", "json"] + (["-n", namespace] if namespace else [])
        result = self.run(*args, check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr or "not found" in result.stderr:
                return None
            raise LabError(f"kubectl get {kind}/{name}: {result.stderr.strip()}")
        return json.loads(result.stdout)

    def delete(self, kind: str, name: str, namespace: str | None = None) -> None:
        args = ["delete", kind, name, "--ignore-not-found", "--wait=true", "--grace-period=1"]
        self.run(*args, *(["-n", namespace] if namespace else []), timeout=120)

    # --- the backend interface --------------------------------------------------------------
    def deploy(self, spec: WorkloadSpec, ctx: DeployContext) -> Workload:
        manifest = pod_manifest(spec, ctx)
        namespace = manifest["metadata"]["namespace"]
        created = self.apply(manifest)[0]
        workload = Workload(id=created["metadata"]["uid"], name=ctx.name, kind="pod", backend=self.name,
                            namespace=namespace)
        self._namespaces[workload.id] = namespace
        try:
            pod = self._wait_running(ctx.name, namespace)
        except LabError:
            with contextlib.suppress(LabError):
                self.remove(workload)
            raise
        status = pod.get("status", {})
        if status.get("podIP"):
            workload.addresses["pod"] = status["podIP"]
        workload.container_ids = [s["containerID"].split("://", 1)[-1]
                                  for s in status.get("containerStatuses", []) if s.get("containerID")]
        return workload

    def _wait_running(self, name: str, namespace: str) -> dict[str, Any]:
        last: dict[str, Any] = {}

        def phase() -> str | None:
            nonlocal last
            last = self.get("pod", name, namespace) or {}
            return last.get("status", {}).get("phase")

        if poll(lambda: phase() in ("Running", "Succeeded"), self.ready_timeout, 0.5,
                give_up=lambda: last.get("status", {}).get("phase") == "Failed"):
            return last
        raise LabError(f"pod {namespace}/{name} did not start: {json.dumps(last.get('status', {}))[-1500:]}")

    def remove(self, workload: Workload) -> None:
        self.delete("pod", workload.name, self.namespace_of(workload))

    def exec(self, workload: Workload, command: list[str], *, detach: bool = False, user: str | None = None,
             privileged: bool = False, timeout: float = 120) -> ExecResult:
        if user or privileged:
            raise UnsupportedWorkload("kubectl exec runs as the container's user, with its own privileges")
        namespace = self.namespace_of(workload)
        if detach:
            command = ["sh", "-c", f"nohup {shlex.join(command)} >/dev/null 2>&1 &"]
        result = self.run("exec", "-n", namespace, workload.name, "--", *command, timeout=timeout, check=False)
        return ExecResult(exit_code=result.returncode, output=result.stdout + result.stderr)

    def logs(self, workload: Workload) -> str:
        return self.run("logs", "-n", self.namespace_of(workload), workload.name, timeout=60).stdout

    def namespace_of(self, workload: Workload) -> str:
        return self._namespaces.get(workload.id, DEFAULT_NAMESPACE)

    @contextlib.contextmanager
    def port_forward(self, workload: Workload, port: int, timeout: float = 20) -> Iterator[int]:
        """``kubectl port-forward`` to a pod's port from a free port on this machine's loopback, for the
        duration of the ``with``; yields that local port. The forwarder is stopped on the way out."""
        proc = subprocess.Popen([self.kubectl, "--kubeconfig", self.kubeconfig, "port-forward", "--address",
                                 "127.0.0.1", "-n", self.namespace_of(workload), f"pod/{workload.name}", f":{port}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            yield _forwarded_port(proc, timeout)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")


def _forwarded_port(proc: subprocess.Popen[str], timeout: float) -> int:
    """The local port from kubectl port-forward's first line; LabError if it exits or says nothing in time."""
    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, min(0.5, deadline - time.monotonic())))
        if ready:
            line = proc.stdout.readline()
            match = FORWARDING.search(line)
            if match:
                return int(match.group(1))
            if not line and proc.poll() is not None:
                break
    proc.kill()
    raise LabError(f"kubectl port-forward did not start: {proc.stderr.read().strip()[-500:] or 'no output'}")
