"""Policy kind ``kubernetes``: what a platform team sanctions in its clusters.

- ``sanctioned_workloads``: pods that may run privileged, mount host paths or share host
  namespaces (node agents);
- ``approved_deployers``: identities whose rollouts and system-namespace changes are expected;
- ``sanctioned_minimal_logging``: namespaces whose pods may opt out of log shipping.

A sanction trusts only what a workload cannot say about itself. Every match binds to provenance the
API server vouches for: the authenticated user of the request (``users``), who created the
namespace the object lives in (``namespace_creators``, from the audit stream: see
``detectors/sensors/k8s_audit.py``), or a namespace the platform guards with RBAC, named exactly
(``namespaces`` without a glob). Names, labels, service account names and owner references are
chosen by whoever creates the object: they may narrow a sanction, never carry one. The loader
refuses a match that binds to nothing else, and ``controllers`` (the kind in the pod's own
``ownerReferences``) is refused with the field to use instead.

Identities are judged by the real user: ``user.username`` is who authenticated, and a request that
impersonates someone (``impersonatedUser``) is sanctioned only when the identity it impersonates is
sanctioned too. Nobody borrows the deployer by impersonating it, and the deployer does not launder
another identity's request through impersonation.

Enrichment (on ``kubernetes.audit`` events only): ``policy.k8s.workload_sanctioned``,
``policy.k8s.deployer_approved``, ``policy.k8s.logging_sanctioned`` (booleans) and the name of
the sanction that matched, so rules stay plain Sigma and the context stays in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event
from detectors.policies import GlobTest, PolicyError, _expect, _known, _strings, glob_test, register_policy_kind

MATCH_FIELDS = ("namespaces", "namespace_creators", "service_accounts", "users")
GLOB_CHARS = frozenset("*?[")
REFUSED = {
    "controllers": "is read from the pod's own metadata.ownerReferences, which whoever creates a pod "
                   "writes; bind to users instead (the controller's authenticated identity, e.g. "
                   "system:serviceaccount:kube-system:daemon-set-controller for a DaemonSet's pods)",
}


def _values(event: Event, key: str) -> list[str]:
    value = event.get(key)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _identity_ok(test: GlobTest, real: Any, impersonated: Any) -> bool:
    """The real (authenticated) identity must match; so must the impersonated one, if there is one."""
    if not isinstance(real, str) or not test(real):
        return False  # not seen: fail closed
    return not impersonated or (isinstance(impersonated, str) and bool(test(impersonated)))


def _has_glob(value: str) -> bool:
    return any(c in GLOB_CHARS for c in value)


@dataclass(frozen=True, slots=True)
class K8sMatch:
    """Every key given must match; within a key any glob may match."""

    namespaces: tuple[str, ...] = ()  # objectRef.namespace; exact names are RBAC-guarded, globs are not
    namespace_creators: tuple[str, ...] = ()  # who created that namespace, as the audit log showed it
    service_accounts: tuple[str, ...] = ()  # the pod's spec.serviceAccountName: narrows, never binds
    users: tuple[str, ...] = ()  # who made the request, as the API server authenticated it (user.username)
    _tests: dict[str, GlobTest] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tests", {name: glob_test(getattr(self, name)) for name in MATCH_FIELDS})

    @classmethod
    def load(cls, data: Any, path: Path, where: str) -> K8sMatch:
        match = _expect(data, dict, path, where.rstrip("."))
        for key, why in REFUSED.items():
            if key in match:
                raise PolicyError(path, f"{where}{key}", why)
        _known(match, MATCH_FIELDS, path, where)
        if not match:
            raise PolicyError(path, where.rstrip("."), "an empty match would sanction everything")
        values = {key: _strings(value, path, f"{where}{key}") for key, value in match.items()}
        for i, user in enumerate(values.get("users", ())):
            _check_identity_glob(user, path, f"{where}users[{i}]")
        for i, user in enumerate(values.get("namespace_creators", ())):
            _check_identity_glob(user, path, f"{where}namespace_creators[{i}]")
        globbed = [n for n in values.get("namespaces", ()) if _has_glob(n)]
        if globbed and not values.get("namespace_creators"):
            raise PolicyError(path, f"{where}namespaces",
                              f"{globbed[0]!r} is a glob that anyone who may create a namespace can satisfy: list "
                              "exact names, or add namespace_creators (who must have created the namespace)")
        exact_namespaces = any(not _has_glob(n) for n in values.get("namespaces", ()))
        if not (values.get("users") or values.get("namespace_creators") or exact_namespaces):
            raise PolicyError(path, where.rstrip("."),
                              "binds to nothing the platform controls (service account names are chosen by whoever "
                              "creates the pod): add users, namespace_creators or exact namespaces")
        return cls(**values)

    def matches(self, event: Event) -> bool:
        tests = self._tests
        if self.users and not _identity_ok(tests["users"], event.get("user.username"),
                                           event.get("impersonatedUser.username")):
            return False
        if self.namespace_creators and not _identity_ok(
                tests["namespace_creators"], event.get("kubernetes.namespace_creator.username"),
                event.get("kubernetes.namespace_creator.impersonated_username")):
            return False
        if self.namespaces and not any(tests["namespaces"](v) for v in _values(event, "objectRef.namespace")):
            return False
        accounts = (_values(event, "requestObject.spec.serviceAccountName")
                    or _values(event, "requestObject.spec.template.spec.serviceAccountName"))
        return not (self.service_accounts and not any(tests["service_accounts"](v) for v in accounts))


def _check_identity_glob(value: str, path: Path, name: str) -> None:
    """A glob over identities may span users of one kind, never their provenance: ``*`` matches
    everyone, and ``system:serviceaccount:*:deployer`` matches a ``deployer`` account made in any
    namespace by whoever may create one there."""
    if value[:1] in GLOB_CHARS:
        raise PolicyError(path, name, f"{value!r} starts with a glob: it would match any identity")
    if value.startswith("system:serviceaccount:"):
        namespace = value.removeprefix("system:serviceaccount:").split(":", 1)[0]
        if _has_glob(namespace):
            raise PolicyError(path, name, f"{value!r}: a service account's namespace is its provenance; name it "
                                          "exactly (a glob there matches the same name in any namespace)")


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
        return cls(
            name=_expect(data["name"], str, path, f"{where}name"),
            description=_expect(data["description"], str, path, f"{where}description"),
            owner=_expect(data["owner"], str, path, f"{where}owner"),
            match=K8sMatch.load(data["match"], path, f"{where}match."),
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
