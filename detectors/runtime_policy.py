"""Policy kinds for the container runtime and the orchestrator, owned by a platform team.

- ``images``: which images may run. A repository alone is not enough: a tag is a movable name, so
  an approved repository can require that the image id be one its build pipeline published
  (``pinned``). A re-tagged or host-built image then shows as "looks approved, is not".
- ``privileged_agents``: infrastructure agents allowed to run with privileges, and exactly which
  privileges (a sanction names the agent *and* bounds what it may do: read-only host mounts, ...).
- ``logging`` and ``log_retention``: in ``detectors.logging_policy``.
- ``engine_config``: which engine (daemon.json) settings the approved deployer may change.
- ``orchestration``: networks only the orchestrator may attach workloads to, declared services
  and the spec they may have, and node labels that drive placement with their declared values.

Each kind turns into ``policy.*`` fields on events (see ``detectors.policies``); Sigma rules filter
on them. Loading is strict: unknown or missing fields are errors naming the file and field.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event
from detectors.platform import NETWORK_PURPOSES, UNBOUND, Platform
from detectors.policies import PolicyError, _expect, _known, _strings, register_policy_kind
from detectors.sanction import Provenanced, SignedImage


def _entry_head(data: Any, path: Path, where: str, fields: tuple[str, ...], required: tuple[str, ...]) -> dict:
    _expect(data, dict, path, where.rstrip("."))
    _known(data, fields, path, where)
    for name in required:
        if name not in data:
            raise PolicyError(path, f"{where}{name}", "missing")
    for name in ("name", "owner", "description"):
        if name in data:
            _expect(data[name], str, path, f"{where}{name}")
    return data


def _globs_match(globs: tuple[str, ...], values: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(v, g) for v in values for g in globs)


def repository_of(reference: str) -> str:
    """``registry:5000/team/app:1.2@sha256:..`` -> ``registry:5000/team/app``."""
    ref = reference.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref = ref[: len(ref) - len(last)] + last.split(":", 1)[0]
    return ref


# --- images --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TrustedBuild:
    name: str
    owner: str
    description: str
    image: SignedImage


@dataclass(frozen=True, slots=True)
class PipelineRepositories:
    name: str
    owner: str
    description: str
    repositories: tuple[str, ...]  # repository globs only the pipeline publishes under


@register_policy_kind
@dataclass(slots=True)
class ImagesPolicy:
    """Approved images are the ones a trusted pipeline signed; a name alone approves nothing.

    ``pipeline_repositories`` are names only the pipeline publishes under: an image that carries one
    of them without the pipeline's signature is an impersonation (a re-tag, a local rebuild)."""

    kind: ClassVar[str] = "images"
    sanction_lists: ClassVar[tuple[str, ...]] = ("trusted_builds",)  # entries that make something benign
    requires_field: ClassVar[str] = "container.image.id"  # enrich tests it first (detectors.routing)
    trusted: list[TrustedBuild] = field(default_factory=list)
    repositories: list[PipelineRepositories] = field(default_factory=list)
    platform: Platform = UNBOUND

    def bind(self, policy: Any) -> None:
        self.platform = Platform(policy)

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "trusted_builds", "pipeline_repositories"), path, "")
        for i, entry in enumerate(_expect(body.get("trusted_builds", []), list, path, "trusted_builds")):
            where = f"trusted_builds[{i}]."
            data = _entry_head(entry, path, where, ("name", "owner", "description", "image"),
                               ("name", "owner", "description", "image"))
            self.trusted.append(TrustedBuild(data["name"], data["owner"], data["description"],
                                             SignedImage.load(data["image"], path, f"{where}image.")))
        for i, entry in enumerate(_expect(body.get("pipeline_repositories", []), list, path,
                                          "pipeline_repositories")):
            where = f"pipeline_repositories[{i}]."
            data = _entry_head(entry, path, where, ("name", "owner", "description", "repositories"),
                               ("name", "owner", "description", "repositories"))
            self.repositories.append(PipelineRepositories(
                data["name"], data["owner"], data["description"],
                _strings(data["repositories"], path, f"{where}repositories")))

    def enrich(self, event: Event) -> None:
        image_id = event.get("container.image.id")
        name = event.get("container.image.name")
        if not image_id or name is None:
            return
        repository = repository_of(str(name))
        protected = next((r for r in self.repositories
                          if any(fnmatch.fnmatchcase(repository, g) for g in r.repositories)), None)
        event["policy.image.repository"] = repository
        event["policy.image.repository_protected"] = protected is not None
        # Approval is of the image's content, under whatever name it runs (a signed image is
        # approved even when run by id); which command it runs is for the behaviour sanctions.
        signed = self.platform.provenance(image_id)
        hit = next((t for t in self.trusted for p in signed
                    if p.signer == t.image.signer and t.image._identities(p.identity)), None)
        event["policy.image.approved"] = hit is not None
        if hit is not None:
            event["policy.image.approval"] = hit.name


# --- privileged agents ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PrivilegeAllowance:
    privileged: bool = False
    host_pid: bool = False
    host_network: bool = False
    capabilities: tuple[str, ...] = ()
    host_mounts: tuple[str, ...] = ()  # globs of host paths it may mount
    host_mounts_read_only: bool = True

    FIELDS: ClassVar[tuple[str, ...]] = ("privileged", "host_pid", "host_network", "capabilities", "host_mounts",
                                         "host_mounts_read_only")

    @classmethod
    def load(cls, data: Any, path: Path, where: str) -> PrivilegeAllowance:
        _expect(data, dict, path, where.rstrip("."))
        _known(data, cls.FIELDS, path, where)
        kwargs: dict[str, Any] = {}
        for key in ("privileged", "host_pid", "host_network", "host_mounts_read_only"):
            if key in data:
                kwargs[key] = _expect(data[key], bool, path, f"{where}{key}")
        for key in ("capabilities", "host_mounts"):
            if key in data:
                kwargs[key] = _strings(data[key], path, f"{where}{key}")
        return cls(**kwargs)

    def covers(self, event: Event) -> bool:
        if event.get("container.privileged") and not self.privileged:
            return False
        if event.get("container.pid_mode") == "host" and not self.host_pid:
            return False
        if event.get("container.network_mode") == "host" and not self.host_network:
            return False
        caps = [c.upper().removeprefix("CAP_") for c in event.get("container.cap_add") or []]
        allowed = {c.upper().removeprefix("CAP_") for c in self.capabilities}
        if any(c not in allowed for c in caps):
            return False
        sources = [s for s in event.get("container.mounts.sources") or [] if s.startswith("/")]
        if any(not any(fnmatch.fnmatchcase(s, g) for g in self.host_mounts) for s in sources):
            return False
        writable = [s for s in event.get("container.mounts.writable_sources") or [] if s.startswith("/")]
        return not (self.host_mounts_read_only and writable)


@dataclass(frozen=True, slots=True)
class AgentSanction:
    name: str
    owner: str
    description: str
    match: Provenanced
    allow: PrivilegeAllowance


@register_policy_kind
@dataclass(slots=True)
class PrivilegedAgentsPolicy:
    """Infrastructure agents that may run with privileges: a signed image run as built, and exactly
    the privileges the sanction allows."""

    kind: ClassVar[str] = "privileged_agents"
    sanction_lists: ClassVar[tuple[str, ...]] = ("sanctioned_privileged_agents",)
    requires_field: ClassVar[str] = "container.privileged"  # enrich tests it first (detectors.routing)
    sanctioned: list[AgentSanction] = field(default_factory=list)
    platform: Platform = UNBOUND

    def bind(self, policy: Any) -> None:
        self.platform = Platform(policy)

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "sanctioned_privileged_agents"), path, "")
        entries = _expect(body.get("sanctioned_privileged_agents", []), list, path, "sanctioned_privileged_agents")
        for i, entry in enumerate(entries):
            where = f"sanctioned_privileged_agents[{i}]."
            data = _entry_head(entry, path, where, ("name", "owner", "description", "match", "allow"),
                               ("name", "owner", "description", "match", "allow"))
            self.sanctioned.append(AgentSanction(
                name=data["name"], owner=data["owner"], description=data["description"],
                match=Provenanced.load(data["match"], path, f"{where}match."),
                allow=PrivilegeAllowance.load(data["allow"], path, f"{where}allow.")))

    def enrich(self, event: Event) -> None:
        if "container.privileged" not in event:
            return
        hit = next((s for s in self.sanctioned if s.allow.covers(event) and s.match.matches(event, self.platform)),
                   None)
        event["policy.privilege.sanctioned"] = hit is not None
        if hit is not None:
            event["policy.privilege.sanction"] = hit.name


# --- engine configuration ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ApprovedEngineChange:
    name: str
    owner: str
    description: str
    keys: tuple[str, ...]


@dataclass(slots=True)
class EngineConfigPolicy:
    """Engine settings the approved deployer may change; any other change is unapproved."""

    kind: ClassVar[str] = "engine_config"
    sanction_lists: ClassVar[tuple[str, ...]] = ("approved_changes",)
    requires_field: ClassVar[str] = "engine.config.changed_keys"  # enrich tests it first (detectors.routing)
    approved: list[ApprovedEngineChange] = field(default_factory=list)

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "approved_changes"), path, "")
        for i, entry in enumerate(_expect(body.get("approved_changes", []), list, path, "approved_changes")):
            where = f"approved_changes[{i}]."
            data = _entry_head(entry, path, where, ("name", "owner", "description", "keys"),
                               ("name", "owner", "description", "keys"))
            self.approved.append(ApprovedEngineChange(data["name"], data["owner"], data["description"],
                                                      _strings(data["keys"], path, f"{where}keys")))

    def enrich(self, event: Event) -> None:
        if "engine.config.changed_keys" not in event:
            return
        allowed = {k for change in self.approved for k in change.keys}
        changed = list(event.get("engine.config.changed_keys") or [])
        unapproved = [k for k in changed if k not in allowed]
        event["policy.engine_config.unapproved_keys"] = unapproved
        # Unparseable content has no key list: it cannot be shown to be an approved change.
        event["policy.engine_config.approved"] = bool(changed) and not unapproved and \
            not event.get("engine.config.unparseable")


# --- orchestration ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DeclaredService:
    name: str
    owner: str
    description: str
    services: tuple[str, ...]  # service name globs
    image: SignedImage  # the image a service may run: signed by the pipeline, as these identities
    logging_drivers: tuple[str, ...]
    host_mounts: tuple[str, ...]  # host path globs it may bind-mount (none when empty)
    capabilities: tuple[str, ...]

    def violations(self, spec: Event, platform: Platform = UNBOUND) -> list[str]:
        """What in a service spec (flattened ``container.*`` fields) this declaration does not allow.

        A service name is the manager's to choose, so it only says which declaration to hold the
        spec to; the image must be one the pipeline signed as a declared identity (a tag proves nothing)."""
        found = []
        image = str(spec.get("container.image.name") or "")
        signed = [p for p in platform.provenance(spec.get("container.image.id"))
                  if p.signer == self.image.signer and self.image._identities(p.identity)]
        if not signed:
            found.append(f"image {image} (not signed as {', '.join(self.image.identities)})")
        driver = str(spec.get("container.logging.driver") or "json-file")
        if driver not in self.logging_drivers:
            found.append(f"log driver {driver}")
        for source in spec.get("container.mounts.sources") or []:
            if source.startswith("/") and not any(fnmatch.fnmatchcase(source, g) for g in self.host_mounts):
                found.append(f"host mount {source}")
        for cap in spec.get("container.cap_add") or []:
            if cap.upper().removeprefix("CAP_") not in {c.upper().removeprefix("CAP_") for c in self.capabilities}:
                found.append(f"capability {cap}")
        return found


@dataclass(frozen=True, slots=True)
class PlacementLabels:
    name: str
    owner: str
    description: str
    keys: dict[str, tuple[str, ...]]  # label key -> values a node may carry (declared)


@dataclass(slots=True)
class OrchestrationPolicy:
    kind: ClassVar[str] = "orchestration"
    # Declared services exempt a spec from drift; the orchestrated networks and placement labels
    # protect (a sanction forged there would only raise more alerts).
    sanction_lists: ClassVar[tuple[str, ...]] = ("declared_services",)
    networks: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (entry name, purposes)
    services: list[DeclaredService] = field(default_factory=list)
    placement: list[PlacementLabels] = field(default_factory=list)
    platform: Platform = UNBOUND

    def bind(self, policy: Any) -> None:
        self.platform = Platform(policy)

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "orchestrated_networks", "declared_services", "placement_labels"), path, "")
        for i, entry in enumerate(_expect(body.get("orchestrated_networks", []), list, path, "orchestrated_networks")):
            where = f"orchestrated_networks[{i}]."
            data = _entry_head(entry, path, where, ("name", "owner", "description", "purposes"),
                               ("name", "owner", "description", "purposes"))
            purposes = _strings(data["purposes"], path, f"{where}purposes")
            for j, purpose in enumerate(purposes):
                if purpose not in NETWORK_PURPOSES:
                    raise PolicyError(path, f"{where}purposes[{j}]", f"unknown network purpose {purpose!r} "
                                      f"(known: {', '.join(NETWORK_PURPOSES)})")
            self.networks.append((data["name"], purposes))
        for i, entry in enumerate(_expect(body.get("declared_services", []), list, path, "declared_services")):
            where = f"declared_services[{i}]."
            fields_ = ("name", "owner", "description", "services", "image", "logging_drivers", "host_mounts",
                       "capabilities")
            data = _entry_head(entry, path, where, fields_, ("name", "owner", "description", "services", "image"))
            self.services.append(DeclaredService(
                name=data["name"], owner=data["owner"], description=data["description"],
                services=_strings(data["services"], path, f"{where}services"),
                image=SignedImage.load(data["image"], path, f"{where}image."),
                logging_drivers=_strings(data.get("logging_drivers", ["json-file"]), path, f"{where}logging_drivers"),
                host_mounts=_strings(data.get("host_mounts", []), path, f"{where}host_mounts"),
                capabilities=_strings(data.get("capabilities", []), path, f"{where}capabilities")))
        for i, entry in enumerate(_expect(body.get("placement_labels", []), list, path, "placement_labels")):
            where = f"placement_labels[{i}]."
            data = _entry_head(entry, path, where, ("name", "owner", "description", "labels"),
                               ("name", "owner", "description", "labels"))
            labels = _expect(data["labels"], dict, path, f"{where}labels")
            keys = {str(k): _strings(v, path, f"{where}labels.{k}") for k, v in labels.items()}
            self.placement.append(PlacementLabels(data["name"], data["owner"], data["description"], keys))

    def declared_service(self, name: str) -> DeclaredService | None:
        return next((s for s in self.services if any(fnmatch.fnmatchcase(name, g) for g in s.services)), None)

    def enrich(self, event: Event) -> None:
        network_ids = event.get("container.network.ids")
        if isinstance(network_ids, list) and network_ids and event.get("event.module") == "docker":
            # Owned by the orchestrator: an overlay the platform created for it, known by its id
            # (anyone can name a network "*-overlay").
            joined = [n for n in map(self.platform.network, network_ids) if n is not None and n.orchestrated]
            hit = next((name for name, purposes in self.networks if any(n.purpose in purposes for n in joined)), None)
            event["policy.orchestration.network_owned"] = hit is not None
            if hit:
                event["policy.orchestration.network_rule"] = hit
        changed = event.get("host.labels.changed_keys")
        if changed is not None:
            undeclared = []
            for key in changed:
                for entry in self.placement:
                    if key in entry.keys:
                        value = event.get(f"host.labels.{key}")
                        previous = event.get(f"host.labels.previous.{key}")
                        if value is not None and value not in entry.keys[key]:
                            undeclared.append(f"{key}={value}")
                        elif value is None and previous in entry.keys[key]:
                            # Removing a declared value frees the node from constraints on it;
                            # removing an undeclared one returns the node to its declared state.
                            undeclared.append(f"{key} removed")
            event["policy.orchestration.undeclared_placement_labels"] = undeclared
            event["policy.orchestration.placement_change_declared"] = not undeclared


for _kind in (EngineConfigPolicy, OrchestrationPolicy):
    register_policy_kind(_kind)
