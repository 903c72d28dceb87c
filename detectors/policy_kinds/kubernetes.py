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
from detectors.policies import GlobTest, PolicyKind, glob_test, register_policy_kind
from detectors.schema import Entry, PolicyError, setting

MATCH_FIELDS = ("namespaces", "namespace_creators", "service_accounts", "users")
GLOB_CHARS = frozenset("*?[")


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


def _identity_glob(value: str) -> str | None:
    """A glob over identities may span users of one kind, never their provenance: ``*`` matches
    everyone, and ``system:serviceaccount:*:deployer`` matches a ``deployer`` account made in any
    namespace by whoever may create one there."""
    if value[:1] in GLOB_CHARS:
        return f"{value!r} starts with a glob: it would match any identity"
    if value.startswith("system:serviceaccount:"):
        namespace = value.removeprefix("system:serviceaccount:").split(":", 1)[0]
        if _has_glob(namespace):
            return (f"{value!r}: a service account's namespace is its provenance; name it exactly (a glob there "
                    "matches the same name in any namespace)")
    return None


@dataclass(frozen=True, slots=True)
class K8sMatch:
    """Every key given must match; within a key any glob may match."""

    REFUSED: ClassVar[dict[str, str]] = {
        "controllers": "is read from the pod's own metadata.ownerReferences, which whoever creates a pod writes; "
                       "bind to users instead (the controller's authenticated identity, e.g. "
                       "system:serviceaccount:kube-system:daemon-set-controller for a DaemonSet's pods)",
    }

    namespaces: tuple[str, ...] = setting((), doc="objectRef.namespace; exact names are RBAC-guarded, globs need "
                                                  "namespace_creators")
    namespace_creators: tuple[str, ...] = setting((), each=_identity_glob,
                                                  doc="who created that namespace, as the audit log showed it")
    service_accounts: tuple[str, ...] = setting((), doc="the pod's spec.serviceAccountName: narrows, never binds")
    users: tuple[str, ...] = setting((), each=_identity_glob,
                                     doc="who made the request, as the API server authenticated it (user.username)")
    _tests: dict[str, GlobTest] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tests", {name: glob_test(getattr(self, name)) for name in MATCH_FIELDS})

    def validate(self, path: Path, where: str) -> None:
        if not any(getattr(self, name) for name in MATCH_FIELDS):
            raise PolicyError(path, where.rstrip("."), "an empty match would sanction everything")
        globbed = [n for n in self.namespaces if _has_glob(n)]
        if globbed and not self.namespace_creators:
            raise PolicyError(path, f"{where}namespaces",
                              f"{globbed[0]!r} is a glob that anyone who may create a namespace can satisfy: list "
                              "exact names, or add namespace_creators (who must have created the namespace)")
        exact_namespaces = any(not _has_glob(n) for n in self.namespaces)
        if not (self.users or self.namespace_creators or exact_namespaces):
            raise PolicyError(path, where.rstrip("."),
                              "binds to nothing the platform controls (service account names are chosen by whoever "
                              "creates the pod): add users, namespace_creators or exact namespaces")

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


@dataclass(frozen=True, slots=True)
class K8sSanction(Entry):
    match: K8sMatch = setting(doc="who or where, as the API server vouches for it")


SECTIONS = {
    "sanctioned_workloads": "workload",
    "approved_deployers": "deployer",
    "sanctioned_minimal_logging": "logging",
}


@register_policy_kind
@dataclass(slots=True)
class KubernetesPolicy(PolicyKind):
    kind: ClassVar[str] = "kubernetes"
    writes: ClassVar[tuple[str, ...] | None] = ("policy.k8s.",)
    sanction_lists: ClassVar[tuple[str, ...]] = tuple(SECTIONS)  # every list it has makes something benign
    applies_to: ClassVar[frozenset[str]] = frozenset({"kubernetes.audit"})  # enrich tests it first
    sanctioned_workloads: tuple[K8sSanction, ...] = setting(
        (), doc="pods that may run privileged, mount host paths or share host namespaces (node agents)")
    approved_deployers: tuple[K8sSanction, ...] = setting(
        (), doc="identities whose rollouts and system-namespace changes are expected")
    sanctioned_minimal_logging: tuple[K8sSanction, ...] = setting(
        (), doc="namespaces whose pods may opt out of log shipping")

    @property
    def sanctions(self) -> dict[str, tuple[K8sSanction, ...]]:
        return {section: getattr(self, section) for section in SECTIONS}

    def enrich(self, event: Event) -> None:
        if event.get("event.dataset") != "kubernetes.audit":
            return
        for section, short in SECTIONS.items():
            hit = next((s for s in getattr(self, section) if s.match.matches(event)), None)
            event[f"policy.k8s.{short}_sanctioned" if short != "deployer" else "policy.k8s.deployer_approved"] = (
                hit is not None)
            if hit is not None:
                event[f"policy.k8s.{short}_sanction"] = hit.name
