"""Policy kind ``kubernetes``: what a platform team sanctions in its clusters.

- ``sanctioned_workloads``: pods that may run privileged, mount host paths or share host
  namespaces (node agents), matched by namespace, controller kind and service account;
- ``approved_deployers``: identities whose rollouts and system-namespace changes are expected;
- ``sanctioned_minimal_logging``: namespaces whose pods may opt out of log shipping.

Enrichment (on ``kubernetes.audit`` events only): ``policy.k8s.workload_sanctioned``,
``policy.k8s.deployer_approved``, ``policy.k8s.logging_sanctioned`` (booleans) and the name of
the sanction that matched, so rules stay plain Sigma and the context stays in one place.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event
from detectors.policies import PolicyError, _expect, _known, _strings, register_policy_kind

MATCH_FIELDS = ("namespaces", "controllers", "service_accounts", "users")


def _values(event: Event, key: str) -> list[str]:
    value = event.get(key)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@dataclass(frozen=True, slots=True)
class K8sMatch:
    """Every key given must match; within a key any glob may match."""

    namespaces: tuple[str, ...] = ()  # objectRef.namespace
    controllers: tuple[str, ...] = ()  # kind of the pod's controlling owner ("DaemonSet")
    service_accounts: tuple[str, ...] = ()  # the pod's spec.serviceAccountName
    users: tuple[str, ...] = ()  # who made the request (user.username)

    def matches(self, event: Event) -> bool:
        checks = (
            (self.namespaces, _values(event, "objectRef.namespace")),
            (self.controllers, _values(event, "requestObject.metadata.ownerReferences.kind")),
            (self.service_accounts, _values(event, "requestObject.spec.serviceAccountName")
             or _values(event, "requestObject.spec.template.spec.serviceAccountName")),
            (self.users, _values(event, "user.username")),
        )
        return all(not globs or any(fnmatch.fnmatchcase(v, g) for v in values for g in globs)
                   for globs, values in checks)


@dataclass(frozen=True, slots=True)
class K8sSanction:
    name: str
    description: str
    owner: str
    match: K8sMatch

    @classmethod
    def load(cls, data: Any, path: Path, where: str) -> K8sSanction:
        _expect(data, dict, path, where.rstrip("."))
        _known(data, ("name", "description", "owner", "match"), path, where)
        for required in ("name", "description", "owner", "match"):
            if required not in data:
                raise PolicyError(path, f"{where}{required}", "missing")
        match = _expect(data["match"], dict, path, f"{where}match")
        _known(match, MATCH_FIELDS, path, f"{where}match.")
        if not match:
            raise PolicyError(path, f"{where}match", "an empty match would sanction everything")
        return cls(
            name=_expect(data["name"], str, path, f"{where}name"),
            description=_expect(data["description"], str, path, f"{where}description"),
            owner=_expect(data["owner"], str, path, f"{where}owner"),
            match=K8sMatch(**{k: _strings(v, path, f"{where}match.{k}") for k, v in match.items()}),
        )


SECTIONS = {
    "sanctioned_workloads": "workload",
    "approved_deployers": "deployer",
    "sanctioned_minimal_logging": "logging",
}


@dataclass(slots=True)
class KubernetesPolicy:
    kind: ClassVar[str] = "kubernetes"
    sanction_lists: ClassVar[tuple[str, ...]] = tuple(SECTIONS)  # every list it has makes something benign
    applies_to: ClassVar[frozenset[str]] = frozenset({"kubernetes.audit"})  # enrich tests it first
    sanctions: dict[str, list[K8sSanction]] = field(default_factory=lambda: {s: [] for s in SECTIONS})

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", *SECTIONS), path, "")
        for section in SECTIONS:
            entries = _expect(body.get(section, []), list, path, section)
            for i, entry in enumerate(entries):
                self.sanctions[section].append(K8sSanction.load(entry, path, f"{section}[{i}]."))

    def enrich(self, event: Event) -> None:
        if event.get("event.dataset") != "kubernetes.audit":
            return
        for section, short in SECTIONS.items():
            hit = next((s for s in self.sanctions[section] if s.match.matches(event)), None)
            event[f"policy.k8s.{short}_sanctioned" if short != "deployer" else "policy.k8s.deployer_approved"] = (
                hit is not None)
            if hit is not None:
                event[f"policy.k8s.{short}_sanction"] = hit.name


register_policy_kind(KubernetesPolicy)
