"""A Kubernetes node's containers, read from containerd's own state: what the node agent watches.

On a node there is no Docker engine to ask. containerd keeps one OCI bundle per running task under
``/run/containerd/io.containerd.runtime.v2.task/<namespace>/<id>/`` (the kubelet's are in the
``k8s.io`` namespace): ``config.json`` is the runtime spec the container was started with (its
command, mounts, privileges, and the CRI's annotations naming the pod, its namespace and uid, the
container and the image), and ``init.pid`` is its init process. The container's root filesystem is
the overlay mounted at the bundle's ``rootfs``, whose upper directory holds the container's own
changes against its image: it is read from the init's mount table, the way the kernel reports it.

Reading files, not the CRI socket, keeps the agent free of gRPC, and a pass costs one directory
listing. One fact is not in the bundle: the image's id (the digest of its config, which is what the
platform's pipeline signs). The node's own CRI client (``crictl``, which every kubeadm node has) is
asked for it once per new container; without it the id stays empty and no sanction that needs it
applies. Sandboxes (the pause containers that hold a pod's namespaces) are left out: nothing of a
workload runs in them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
from typing import Any

from detectors.sensors.containers import ContainerInfo

TASK_ROOT = "/run/containerd/io.containerd.runtime.v2.task/k8s.io"

# The CRI plugin's annotations on each container's runtime spec.
TYPE = "io.kubernetes.cri.container-type"
CONTAINER_NAME = "io.kubernetes.cri.container-name"
IMAGE_NAME = "io.kubernetes.cri.image-name"
POD_NAME = "io.kubernetes.cri.sandbox-name"
POD_NAMESPACE = "io.kubernetes.cri.sandbox-namespace"
POD_UID = "io.kubernetes.cri.sandbox-uid"
SANDBOX_ID = "io.kubernetes.cri.sandbox-id"
LOG_DIRECTORY = "io.kubernetes.cri.sandbox-log-directory"  # on the sandbox: /var/log/pods/<ns>_<pod>_<uid>
CRICTL_PATHS = ("/usr/local/bin/crictl", "/usr/bin/crictl")
RUNTIME_SOCKET = "/run/containerd/containerd.sock"
_IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}$")


_OCTAL = re.compile(r"\\([0-7]{3})")
# Capabilities only a privileged container holds all of (a pod given one of them is not privileged).
_PRIVILEGED_CAPS = {"CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE", "CAP_NET_ADMIN"}


def _unescape(text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), text)


def process_start(pid: int, proc: str = "/proc") -> float:
    """When a process started, epoch seconds: its start in clock ticks after boot, plus boot time."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as handle:
            ticks = int(handle.read().rsplit(b")", 1)[1].split()[19])
        with open(f"{proc}/stat") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return 0.0
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def overlay_layers(mountinfo: str) -> tuple[str, tuple[str, ...]]:
    """(upper directory, lower directories) of the overlay mounted at ``/`` in a mount table; empty
    when the root is not an overlay (another snapshotter: then no layer facts are claimed)."""
    for line in mountinfo.splitlines():
        head, _, tail = line.partition(" - ")
        fields = head.split()
        parts = tail.split()
        if len(fields) < 5 or fields[4] != "/" or len(parts) < 3 or parts[0] != "overlay":
            continue
        upper = ""
        lower: tuple[str, ...] = ()
        for option in parts[2].split(","):
            key, _, value = option.partition("=")
            if key == "upperdir":
                upper = _unescape(value)
            elif key == "lowerdir":
                lower = tuple(_unescape(p) for p in value.split(":") if p)
        return upper, lower
    return "", ()


def info_from_bundle(container_id: str, spec: dict[str, Any], pid: int, mountinfo: str, node: str,
                     started_at: float, node_root: str = "", image_id: str = "", log_path: str = "") -> ContainerInfo:
    """A container's facts from its runtime spec and its init's mount table. ``node_root`` is where
    the node's own root is seen from here (the agent reads it through ``/proc/1/root``): the spec and
    the mount table name node paths."""
    notes = spec.get("annotations") or {}
    process = spec.get("process") or {}
    caps = (process.get("capabilities") or {}).get("effective") or []
    upper, lower = overlay_layers(mountinfo)
    writable = tuple((node_root + m.get("source", ""), m.get("destination", "")) for m in spec.get("mounts") or []
                     if m.get("type") == "bind" and "ro" not in (m.get("options") or []))
    context: list[tuple[str, Any]] = [("orchestrator.type", "kubernetes")]
    for field, key in (("kubernetes.pod.name", POD_NAME), ("kubernetes.namespace", POD_NAMESPACE),
                       ("kubernetes.pod.uid", POD_UID)):
        if notes.get(key):
            context.append((field, notes[key]))
    if node:
        context.append(("orchestrator.node.name", node))
    return ContainerInfo(
        id=container_id,
        name=notes.get(CONTAINER_NAME, ""),
        image=notes.get(IMAGE_NAME, ""),
        image_id=image_id,
        command=tuple(process.get("args") or ()),
        pid=pid,
        privileged=set(caps) >= _PRIVILEGED_CAPS,
        upper_dir=node_root + upper if upper else "",
        lower_dirs=tuple(node_root + layer for layer in lower),
        merged_dir=f"/proc/{pid}/root" if pid else "",
        writable_mounts=writable,
        started_at=started_at,
        context=tuple(context),
        cgroup_root=f"{node_root}/sys/fs/cgroup",
        log_path=log_path,
    )


class ContainerdSource:
    """A node's running containers (not sandboxes), from containerd's task bundles.

    The agent runs in the node's PID namespace (``hostPID``) and in a mount namespace of its own:
    ``proc`` is the node's /proc, and the node's files are read through its init's root
    (``/proc/1/root``), so the agent needs no host directory mounted.
    """

    def __init__(self, proc: str = "/proc", node: str = "", node_root: str | None = None) -> None:
        self.proc = proc
        self.node = node
        self.node_root = f"{proc}/1/root" if node_root is None else node_root
        self.task_root = self.node_root + TASK_ROOT
        self._workload: dict[str, bool] = {}  # task id -> is it a workload's container (not a sandbox)
        self._lock = threading.Lock()

    def _spec(self, container_id: str) -> dict[str, Any] | None:
        try:
            with open(os.path.join(self.task_root, container_id, "config.json")) as handle:
                spec = json.load(handle)
        except (OSError, ValueError):
            return None
        return spec if isinstance(spec, dict) else None

    def running_ids(self) -> list[str]:
        """The containers whose tasks run now. A task's kind never changes, so each bundle's spec is
        read once: the agent lists this every half second, on nodes with a hundred pods or more."""
        try:
            names = set(os.listdir(self.task_root))
        except OSError:
            return []
        out = []
        with self._lock:  # the agent's loop and the sensors' first listings ask at once
            for name in names:
                workload = self._workload.get(name)
                if workload is None:
                    spec = self._spec(name)
                    if spec is None:
                        continue  # being set up or torn down: asked again on the next pass
                    annotations = spec.get("annotations") or {}
                    workload = self._workload[name] = annotations.get(TYPE, "container") != "sandbox"
                if workload:
                    out.append(name)
            for gone in set(self._workload) - names:
                del self._workload[gone]
        return out

    def inspect(self, container_id: str) -> ContainerInfo | None:
        spec = self._spec(container_id)
        if spec is None:
            return None
        pid = 0
        pid_file = os.path.join(self.task_root, container_id, "init.pid")
        with contextlib.suppress(OSError, ValueError), open(pid_file) as handle:
            pid = int(handle.read().strip() or 0)
        # The bundle exists a moment before its task runs: until the runtime has written the init's
        # pid and the init has its mount table, there is no container yet to watch (the next pass asks
        # again). Facts taken before then would have no root, no layers and no cgroup, for good.
        try:
            with open(f"{self.proc}/{pid}/mountinfo") as handle:
                mountinfo = handle.read() if pid else ""
        except OSError:
            mountinfo = ""
        if not mountinfo:
            return None
        started_at = process_start(pid, self.proc)
        return info_from_bundle(container_id, spec, pid, mountinfo, self.node, started_at, self.node_root,
                                self.image_id(container_id), self.log_path(spec))

    def log_path(self, spec: dict[str, Any]) -> str:
        """Where the kubelet has the runtime write a container's output: ``<the pod's log directory>/
        <container>/<attempt>.log`` (the newest attempt). "" when the sandbox does not say."""
        notes = spec.get("annotations") or {}
        sandbox = self._spec(str(notes.get(SANDBOX_ID) or "")) if notes.get(SANDBOX_ID) else None
        directory = str(((sandbox or {}).get("annotations") or {}).get(LOG_DIRECTORY) or "")
        name = str(notes.get(CONTAINER_NAME) or "")
        if not directory or not name:
            return ""
        where = f"{self.node_root}{directory}/{name}"
        try:
            attempts = [int(f[:-4]) for f in os.listdir(where) if f.endswith(".log") and f[:-4].isdigit()]
        except OSError:
            return ""
        return f"{where}/{max(attempts)}.log" if attempts else ""

    def _crictl(self, *args: str) -> dict[str, Any] | None:
        binary = next((self.node_root + p for p in CRICTL_PATHS if os.access(self.node_root + p, os.X_OK)), None)
        if binary is None:
            return None
        verb, *rest = args  # crictl reads flags only before the ids: `inspect -o json ID`
        command = [binary, "--runtime-endpoint", f"unix://{self.node_root}{RUNTIME_SOCKET}", "--timeout", "5s",
                   verb, "-o", "json", *rest]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
            data = json.loads(result.stdout) if result.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def image_id(self, container_id: str) -> str:
        """The id (config digest) of the image a container runs, from the node's CRI; "" unknown."""
        status = (self._crictl("inspect", container_id) or {}).get("status") or {}
        ref = str(status.get("imageRef") or "")
        if _IMAGE_ID.match(ref):
            return ref
        if ref:  # a repository digest: the image's own status names its id
            image = (self._crictl("inspecti", ref) or {}).get("status") or {}
            if _IMAGE_ID.match(str(image.get("id") or "")):
                return str(image["id"])
        return ""
