"""Put the detectors' node agent on a cluster: its image, its DaemonSet, and the stream that reads it.

The image is built offline by the lab's image pipeline (signed like every platform image) from the
lab base image: the ``detectors`` and ``lab`` packages of this very installation and the files of the
distributions they import, copied from this interpreter's own site-packages. No index, no registry,
and the agent runs the code the harness runs (the base image's Python is 3.11, like the harness's).

On the run's kind cluster the image is loaded into every node. A cluster named by
``STOWAWAY_KUBECONFIG`` cannot be loaded into: ``STOWAWAY_AGENT_IMAGE`` names the image its nodes can
pull (built here with ``stowaway agent-image``, then pushed by whoever owns the registry).
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from detectors.agent.wire import HEALTH_INTERVAL_S
from detectors.sensors.node_agent import NodeAgentStream
from lab import BuildRecipe, LabError, LabSession

NAMESPACE = "stowaway-system"
NAME = "stowaway-node-agent"
SELECTOR = f"app.kubernetes.io/name={NAME}"
REPOSITORY = "stowaway/node-agent"
PACKAGES = ("detectors", "lab")  # what the agent imports of ours (lab: the bookkeeping label names)
DISTRIBUTIONS = ("docker", "cryptography")  # what those import from outside the standard library
APP_DIR = "/opt/stowaway"
ROLLOUT_TIMEOUT_S = 180

DOCKERFILE = f"""FROM {{base}}
COPY app {APP_DIR}
ENV PYTHONPATH={APP_DIR} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["python3", "-m", "detectors.agent"]
"""

_KEEP = re.compile(r"\.(py|yaml|yml|json|so|pem|typed)$")


def _requirements(dist: metadata.Distribution) -> list[str]:
    """The names a distribution requires unconditionally (no extras, no markers that exclude Linux)."""
    names = []
    for requirement in dist.requires or []:
        spec, _, marker = requirement.partition(";")
        if "extra" in marker or "platform_python_implementation != 'CPython'" in marker.replace('"', "'"):
            continue
        if "sys_platform == 'win32'" in marker.replace('"', "'"):
            continue
        names.append(re.split(r"[\s<>=!~\[(]", spec.strip(), maxsplit=1)[0])
    return names


def _distribution_files(roots: tuple[str, ...] = DISTRIBUTIONS) -> dict[str, Path]:
    files: dict[str, Path] = {}
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            raise LabError(f"the node agent image needs {name!r}, which this Python does not have") from exc
        for entry in dist.files or []:
            if ".." in entry.parts or "__pycache__" in entry.parts or not _KEEP.search(entry.name):
                continue
            files[f"app/{entry.as_posix()}"] = Path(str(dist.locate_file(entry)))
        pending.extend(_requirements(dist))
    return files


def _package_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for package in PACKAGES:
        root = Path(str(importlib.import_module(package).__file__)).parent
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and _KEEP.search(path.name):
                files[f"app/{package}/{path.relative_to(root).as_posix()}"] = path
    return files


def agent_recipe() -> BuildRecipe:
    """The agent's image recipe: the base image plus our packages and their dependencies' files."""
    return BuildRecipe.of(REPOSITORY, DOCKERFILE, {**_distribution_files(), **_package_files()})


def manifests(image: str, health_interval_s: float = HEALTH_INTERVAL_S) -> list[dict[str, Any]]:
    """The agent's namespace and DaemonSet. It needs the node's PID namespace and privileges to read
    every container's /proc, cgroups and root; it needs no API access (no token is mounted)."""
    labels = {"app.kubernetes.io/name": NAME}
    container = {
        "name": "agent",
        "image": image,
        "args": ["--health-interval", str(health_interval_s)],
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "securityContext": {"privileged": True},
        "resources": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
    }
    pod_spec = {
        "serviceAccountName": NAME,  # the policy's sanction names it (detectors/policy/kubernetes.yaml)
        "hostPID": True,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 5,
        "tolerations": [{"operator": "Exists"}],  # every node, the control plane's too
        "priorityClassName": "system-node-critical",
        "containers": [container],
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": NAME, "namespace": NAMESPACE},
         "automountServiceAccountToken": False},
        {"apiVersion": "apps/v1", "kind": "DaemonSet",
         "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
         "spec": {"selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": pod_spec}}},
    ]


def agent_image(session: LabSession) -> str:
    """The image the cluster's nodes run the agent from, built (or reused) by the lab's pipeline and,
    on the run's own cluster, loaded into its nodes."""
    backend: Any = session.backend
    named = os.environ.get("STOWAWAY_AGENT_IMAGE", "")
    if not backend.owns_cluster:
        if not named:
            raise LabError("the node agent cannot be loaded into a cluster named by STOWAWAY_KUBECONFIG: build "
                           "it with `stowaway agent-image`, push it where the nodes pull from, and name it in "
                           "STOWAWAY_AGENT_IMAGE")
        return named
    built = session.pipeline.build_signed(agent_recipe())
    backend.load_image(built.reference)
    return built.reference


def deploy_node_agent(session: LabSession, progress: Callable[[str], None]) -> NodeAgentStream:
    """Run the agent on every node of the session's cluster and return the sensor that follows it."""
    backend: Any = session.backend
    progress("node agent: building its image and deploying it on every node (DaemonSet)")
    image = agent_image(session)
    interval = float(os.environ.get("STOWAWAY_AGENT_HEALTH_S") or HEALTH_INTERVAL_S)  # the bench asks for 5 s
    backend.apply_for_run(manifests(image, interval))
    backend.run("rollout", "status", f"daemonset/{NAME}", "-n", NAMESPACE, f"--timeout={ROLLOUT_TIMEOUT_S}s",
                timeout=ROLLOUT_TIMEOUT_S + 30)
    return NodeAgentStream([backend.kubectl, "--kubeconfig", backend.kubeconfig], NAMESPACE, SELECTOR)
