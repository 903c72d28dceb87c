"""The Kubernetes API server's audit log (JSON lines), as flat events with SigmaHQ's field names.

SigmaHQ's kubernetes rules (``logsource: product kubernetes, service audit``) name the audit event's
own fields, dotted: ``verb``, ``objectRef.resource``, ``objectRef.subresource``,
``objectRef.namespace``, ``objectRef.apiGroup``, ``user.username``. This sensor keeps those names,
flattens ``requestObject`` the same way (a list of objects becomes, per field, the list of their
values: ``requestObject.spec.containers.securityContext.privileged: [true]``), and adds the two
abstract fields SigmaHQ's pod rules use: ``hostPath`` (host paths a pod mounts) and
``capabilities`` (capabilities its containers add). One field is computed because Sigma cannot
honestly compute it: ``kubernetes.pod.output_redirected`` (with ``kubernetes.pod.output_targets``),
whether a container's command sends its own stdout or stderr away from the container log, from a
parse of its ``sh -c`` script (shell_output.py); matching "/dev/null" in the command line would also
match ``curl -o /dev/null``, a probe's ``>/dev/null`` and a quoted string. Likewise a role's
``kubernetes.rbac.grants`` (rbac_grants.py: each of its rules judged on its own, which a flattened
event no longer allows), remembered by role so that a binding to it carries
``kubernetes.rbac.role_grants``; a role created before the log the sensor reads is not known.

Attribution: every event about an object carries ``kubernetes.object.ref`` (``pod:<uid>``,
``clusterrolebinding:<uid>``...). A pod made by a controller is attributed to its top owner
(Deployment, DaemonSet, Job), which the sensor learns from the owners' own audit events. An owner
reference is followed only when the control plane wrote it (the request's authenticated user is the
controller manager or one of its kube-system service accounts): whoever creates a bare pod can write
any ``ownerReferences`` into it, and the alert must then name that pod, not the DaemonSet it claims.

Provenance: the sensor remembers who created each namespace (the authenticated user of the
successful ``create namespaces`` request, and the identity it impersonated, if any) and stamps every
event in that namespace with ``kubernetes.namespace_creator.username`` (and
``kubernetes.namespace_creator.impersonated_username``). A namespace whose creation the sensor has
not seen gets neither field: the policy then sanctions nothing by creator (fail closed). At start the
sensor reads the log it is about to follow from its beginning, without emitting, so that namespaces
and owners created before it started are known; what rotated out of the log is not.
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event, new_event
from detectors.sensors.base import ThreadedSensor, is_bookkeeping_label
from detectors.sensors.rbac_grants import role_grants
from detectors.sensors.shell_output import container_output

FINAL_STAGES = {"ResponseComplete", "ResponseStarted", "Panic"}
CONTROL_PLANE_SA = "system:serviceaccount:kube-system:"  # kubeadm's controller manager: one SA per controller


def written_by_control_plane(username: str) -> bool:
    """The controller manager's own identities (with or without --use-service-account-credentials)."""
    return username == "system:kube-controller-manager" or username.startswith(CONTROL_PLANE_SA)


def flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    """Dotted keys; lists of objects merge into per-field lists (Sigma matches ANY element)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if is_bookkeeping_label(key):
                continue  # the lab's own labels: a defender's cluster would not carry them
            flatten(inner, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            _extend(out, prefix, list(value))
        else:
            for item in value:
                flatten(item, prefix, out)
    else:
        _extend(out, prefix, value, scalar=True)


def _extend(out: dict[str, Any], key: str, value: Any, scalar: bool = False) -> None:
    if key not in out:
        out[key] = value
        return
    existing = out[key]
    existing = existing if isinstance(existing, list) else [existing]
    existing.extend(value if isinstance(value, list) and not scalar else [value])
    out[key] = existing


def _timestamp(text: str | None) -> float:
    if not text:
        return time.time()
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    return time.time()


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("spec") or {}
    if kind in ("Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job"):
        return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    if kind == "CronJob":
        job = ((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
        return (job.get("template") or {}).get("spec") or {}
    return None


class AuditNormaliser:
    """Audit JSON -> Event. Stateful only to attribute objects (names and owners -> uids)."""

    def __init__(self) -> None:
        self._uids: dict[tuple[str, str, str], str] = {}  # (resource, namespace, name) -> uid
        self._owner: dict[str, str] = {}  # uid -> owner's ref ("deployment:<uid>")
        self._seen: set[str] = set()  # auditIDs already emitted (ResponseStarted then Complete)
        self._namespace_creators: dict[str, tuple[str, str]] = {}  # namespace -> (user, impersonated user)
        self._role_grants: dict[tuple[str, str, str], list[str]] = {}  # (kind, namespace, name) -> grants

    def normalise(self, raw: dict[str, Any]) -> Event | None:
        if raw.get("kind") != "Event" or raw.get("stage") not in FINAL_STAGES:
            return None
        audit_id = raw.get("auditID", "")
        if audit_id in self._seen:
            return None
        self._seen.add(audit_id)
        if len(self._seen) > 50000:
            self._seen.clear()
        verb = raw.get("verb", "")
        event = new_event("kubernetes", "kubernetes.audit", verb, created=_timestamp(raw.get("stageTimestamp")))
        for key in ("auditID", "verb", "stage", "requestURI", "userAgent", "sourceIPs", "level"):
            if key in raw:
                event[key] = raw[key]
        flatten(raw.get("objectRef") or {}, "objectRef", event)
        flatten(raw.get("user") or {}, "user", event)
        flatten(raw.get("impersonatedUser") or {}, "impersonatedUser", event)
        flatten(raw.get("responseStatus") or {}, "responseStatus", event)
        flatten(raw.get("annotations") or {}, "annotations", event)
        request = raw.get("requestObject") or {}
        response = raw.get("responseObject") or {}
        flatten(request, "requestObject", event)
        spec = _pod_spec(request) if isinstance(request, dict) else None
        if spec is not None:
            self._pod_fields(spec, event)
        event["orchestrator.type"] = "kubernetes"
        self._attribute(raw, request, response, event)
        self._remember_namespace(raw)
        self._stamp_namespace_creator(raw, event)
        self._rbac_fields(raw, request, response, event)
        return event

    def _rbac_fields(self, raw: dict[str, Any], request: Any, response: Any, event: Event) -> None:
        """A role's grants (rbac_grants.py), on its own events and, remembered, on the bindings to it.

        The role's rules are read from the response when there is one (a patch's request holds only the
        change; the response is the role as stored), else from the request."""
        ref = raw.get("objectRef") or {}
        resource = ref.get("resource")
        if ref.get("apiGroup") != "rbac.authorization.k8s.io" or ref.get("subresource"):
            return
        namespace = ref.get("namespace") or ""
        succeeded = 200 <= int((raw.get("responseStatus") or {}).get("code") or 0) < 300
        stored = response if isinstance(response, dict) and response.get("kind") in ("Role", "ClusterRole") else None
        body = stored or (request if isinstance(request, dict) else {})
        if resource in ("roles", "clusterroles"):
            kind = "Role" if resource == "roles" else "ClusterRole"
            name = ref.get("name") or (body.get("metadata") or {}).get("name") or ""
            key = (kind, namespace if kind == "Role" else "", name)
            if raw.get("verb") == "delete":
                if succeeded:
                    self._role_grants.pop(key, None)
                return
            if not isinstance(body.get("rules"), list):
                return
            grants = role_grants(body["rules"])
            if grants:
                event["kubernetes.rbac.grants"] = grants
            if succeeded and name:
                self._role_grants[key] = grants
        elif resource in ("rolebindings", "clusterrolebindings"):
            binding = response if isinstance(response, dict) and response.get("roleRef") else body
            role = binding.get("roleRef") or {} if isinstance(binding, dict) else {}
            role_kind = str(role.get("kind") or "")
            bound = self._role_grants.get((role_kind, namespace if role_kind == "Role" else "",
                                           str(role.get("name") or "")))
            if bound:
                event["kubernetes.rbac.role_grants"] = bound

    def _remember_namespace(self, raw: dict[str, Any]) -> None:
        ref = raw.get("objectRef") or {}
        if ref.get("resource") != "namespaces" or ref.get("subresource") or ref.get("apiGroup"):
            return
        code = (raw.get("responseStatus") or {}).get("code") or 0
        if not 200 <= int(code) < 300:  # a refused create (409: it exists) must not claim someone else's namespace
            return
        response = raw.get("responseObject")
        name = ref.get("name") or (((response or {}).get("metadata") or {}).get("name")
                                   if isinstance(response, dict) else None)
        if not name:
            return
        if raw.get("verb") == "create":
            user = (raw.get("user") or {}).get("username") or ""
            impersonated = (raw.get("impersonatedUser") or {}).get("username") or ""
            self._namespace_creators[name] = (user, impersonated)
        elif raw.get("verb") == "delete":  # a namespace made again under this name is a new creation
            self._namespace_creators.pop(name, None)

    def _stamp_namespace_creator(self, raw: dict[str, Any], event: Event) -> None:
        namespace = (raw.get("objectRef") or {}).get("namespace")
        creator = self._namespace_creators.get(namespace) if namespace else None
        if creator is None:
            return
        user, impersonated = creator
        event["kubernetes.namespace_creator.username"] = user
        if impersonated:
            event["kubernetes.namespace_creator.impersonated_username"] = impersonated

    @staticmethod
    def _pod_fields(spec: dict[str, Any], event: Event) -> None:
        containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
        paths = [v["hostPath"].get("path") for v in spec.get("volumes") or [] if isinstance(v.get("hostPath"), dict)]
        if paths:
            event["hostPath"] = paths
        caps = [c for ctr in containers for c in ((ctr.get("securityContext") or {}).get("capabilities") or {})
                .get("add") or []]
        if caps:
            event["capabilities"] = caps
        event["kubernetes.pod.images"] = [c.get("image", "") for c in containers]
        if any((c.get("securityContext") or {}).get("privileged") for c in containers):
            event["kubernetes.pod.privileged"] = True
        for flag in ("hostPID", "hostNetwork", "hostIPC"):
            if spec.get(flag):
                event[f"kubernetes.pod.{flag}"] = True
        AuditNormaliser._output_fields(containers, event)

    @staticmethod
    def _output_fields(containers: list[Any], event: Event) -> None:
        redirected: list[str] = []
        targets: list[str] = []
        unparsed = False
        for container in containers:
            if not isinstance(container, dict):
                continue
            command, args = container.get("command") or [], container.get("args") or []
            # No command: the image's entrypoint runs the args. Without one (or with the usual
            # docker-entrypoint.sh that ends in exec "$@"), the args are the command line.
            argv = [str(a) for a in (list(command) + list(args) if command else list(args))]
            verdict = container_output(argv)
            unparsed = unparsed or not verdict.parsed
            if verdict.redirected:
                redirected.append(str(container.get("name", "")))
                targets.extend(t for t in verdict.targets if t not in targets)
        event["kubernetes.pod.output_redirected"] = bool(redirected)
        if redirected:
            event["kubernetes.pod.output_redirected_containers"] = redirected
            event["kubernetes.pod.output_targets"] = targets
        if unparsed:
            event["kubernetes.pod.output_command_unparsed"] = True

    def _attribute(self, raw: dict[str, Any], request: Any, response: Any, event: Event) -> None:
        ref = raw.get("objectRef") or {}
        resource, namespace, name = ref.get("resource", ""), ref.get("namespace", ""), ref.get("name", "")
        meta = (response or {}).get("metadata") or {} if isinstance(response, dict) else {}
        if not ref.get("subresource") and meta.get("uid") and (response or {}).get("kind") not in (None, "Status"):
            name = name or meta.get("name", "")
            uid = meta["uid"]
            self._uids[(resource, namespace, name)] = uid
            owners = [o for o in meta.get("ownerReferences") or [] if o.get("controller")]
            if owners and written_by_control_plane((raw.get("user") or {}).get("username") or ""):
                owner = owners[0]
                owner_ref = f"{owner['kind'].lower()}:{owner['uid']}"
                self._owner[uid] = self._owner.get(owner["uid"], owner_ref)
        uid = ref.get("uid") or self._uids.get((resource, namespace, name))
        if not uid:
            return
        kind = (response or {}).get("kind") if isinstance(response, dict) and not ref.get("subresource") else None
        kind = (kind or _singular(resource)).lower()
        own = f"{kind}:{uid}"
        event["kubernetes.object.ref"] = self._owner.get(uid, own)
        event["kubernetes.object.own_ref"] = own
        if resource == "pods":
            event["kubernetes.pod.uid"] = uid
            event["kubernetes.pod.name"] = name
            event["kubernetes.namespace"] = namespace


def _singular(resource: str) -> str:
    special = {"pods": "pod", "clusterrolebindings": "clusterrolebinding", "rolebindings": "rolebinding",
               "deployments": "deployment", "daemonsets": "daemonset", "replicasets": "replicaset"}
    return special.get(resource, resource.rstrip("s"))


class K8sAuditSensor(ThreadedSensor):
    """Follows an audit log file (rotation-aware) from its end, one event per audited request."""

    name: ClassVar[str] = "k8s-audit"

    def __init__(self, path: Path | str, from_start: bool = False, poll: float = 0.1) -> None:
        super().__init__(extra_stats=("learned",))
        self.path = Path(path)
        self.from_start = from_start
        self.poll = poll
        self.normaliser = AuditNormaliser()
        self._start_offset = 0

    def open(self) -> None:
        # Taken now, on the caller's thread: whatever is written after start() returns is news.
        self._start_offset = 0 if self.from_start or not self.path.exists() else self.path.stat().st_size

    def run(self) -> None:
        offset = self._start_offset
        inode = self.path.stat().st_ino if self.path.exists() else None
        if offset:
            self._learn(offset)
        pending = b""
        while not self._stop.is_set():
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                time.sleep(self.poll)
                continue
            if stat.st_ino != inode or stat.st_size < offset:  # rotated or truncated: start over
                inode, offset, pending = stat.st_ino, 0, b""
            if stat.st_size > offset:
                with open(self.path, "rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read(stat.st_size - offset)
                offset += len(chunk)
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    self._handle(line)
            else:
                time.sleep(self.poll)

    def _learn(self, upto: int) -> None:
        """The log before the sensor's start is not news, but it is memory: who created each
        namespace, which controller owns which pod. Read it without emitting."""
        read = 0
        with open(self.path, "rb") as handle:
            for line in handle:
                read += len(line)
                if read > upto or self._stop.is_set():
                    break
                if line.strip():
                    with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                        self.normaliser.normalise(json.loads(line))
                        self._stats.extra["learned"] += 1

    def _handle(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            event = self.normaliser.normalise(json.loads(line))
        except (ValueError, KeyError, TypeError, AttributeError):
            self._stats.errors += 1
            return
        if event is None:
            self._stats.dropped += 1
            return
        self.send(event)


def read_audit_file(path: Path | str) -> list[Event]:
    """Every event of a recorded audit log (fixtures, offline replay)."""
    normaliser = AuditNormaliser()
    events = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            event = normaliser.normalise(json.loads(line))
            if event is not None:
                events.append(event)
    return events


__all__ = ["AuditNormaliser", "K8sAuditSensor", "flatten", "read_audit_file"]
