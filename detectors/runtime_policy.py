"""Policy kinds for the container runtime and the orchestrator, owned by a platform team.

- ``images``: which images may run. A repository alone is not enough: a tag is a movable name, so
  an approved repository can require that the image id be one its build pipeline published
  (``pinned``). A re-tagged or host-built image then shows as "looks approved, is not".
- ``privileged_agents``: infrastructure agents allowed to run with privileges, and exactly which
  privileges (a sanction names the agent *and* bounds what it may do: read-only host mounts, ...).
- ``log_retention``: how much log a container must keep locally so the shipper can catch up.
- ``engine_config``: which engine (daemon.json) settings the approved deployer may change.
- ``orchestration``: networks only the orchestrator may attach workloads to, declared services
  and the spec they may have, and node labels that drive placement with their declared values.

Each kind turns into ``policy.*`` fields on events (see ``detectors.policies``); Sigma rules filter
on them. Loading is strict: unknown or missing fields are errors naming the file and field.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event
from detectors.policies import ContextMatch, PolicyError, _expect, _known, _strings, register_policy_kind


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
class ApprovedRepository:
    name: str
    owner: str
    description: str
    repositories: tuple[str, ...]
    require_pinned_id: bool


@dataclass(slots=True)
class ImagesPolicy:
    """Approved repositories, and the exact image ids a sanctioned pipeline published for them."""

    kind: ClassVar[str] = "images"
    requires_field: ClassVar[str] = "container.image.id"  # enrich tests it first (detectors.routing)
    repositories: list[ApprovedRepository] = field(default_factory=list)
    pinned: dict[str, set[str]] = field(default_factory=dict)  # repository -> image ids
    # Images the platform's own build pipeline made, known by the provenance label it stamps on them
    # (the lab has no image signing; a label is the provenance a classic-builder pipeline leaves).
    pipelines: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (name, label -> glob)

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "approved_repositories", "pinned", "pipeline_builds"), path, "")
        for i, entry in enumerate(_expect(body.get("pipeline_builds", []), list, path, "pipeline_builds")):
            where = f"pipeline_builds[{i}]."
            data = _entry_head(entry, path, where, ("name", "owner", "description", "labels"),
                               ("name", "owner", "description", "labels"))
            labels = _expect(data["labels"], dict, path, f"{where}labels")
            for key, value in labels.items():
                _expect(value, str, path, f"{where}labels.{key}")
            if not labels:
                raise PolicyError(path, f"{where}labels", "empty labels would approve every image")
            self.pipelines.append((data["name"], dict(labels)))
        for i, entry in enumerate(_expect(body.get("approved_repositories", []), list, path, "approved_repositories")):
            where = f"approved_repositories[{i}]."
            allowed = ("name", "owner", "description", "repositories", "require_pinned_id")
            data = _entry_head(entry, path, where, allowed, ("name", "owner", "description", "repositories"))
            self.repositories.append(ApprovedRepository(
                name=data["name"], owner=data["owner"], description=data["description"],
                repositories=_strings(data["repositories"], path, f"{where}repositories"),
                require_pinned_id=bool(_expect(data.get("require_pinned_id", True), bool, path,
                                               f"{where}require_pinned_id"))))
        for i, entry in enumerate(_expect(body.get("pinned", []), list, path, "pinned")):
            where = f"pinned[{i}]."
            data = _entry_head(entry, path, where, ("name", "owner", "description", "repository", "image_ids"),
                               ("name", "owner", "description", "repository", "image_ids"))
            repository = _expect(data["repository"], str, path, f"{where}repository")
            self.pinned.setdefault(repository, set()).update(_strings(data["image_ids"], path, f"{where}image_ids"))

    def enrich(self, event: Event) -> None:
        image_id = event.get("container.image.id")
        name = event.get("container.image.name")
        if not image_id or name is None:
            return
        repository = repository_of(str(name))
        entry = next((r for r in self.repositories if any(fnmatch.fnmatchcase(repository, g) for g in r.repositories)),
                     None)
        event["policy.image.repository"] = repository
        event["policy.image.repository_approved"] = entry is not None
        # The exact content the pipeline published is approved under any name (a build step runs
        # it by id); a name alone is approved only where the repository does not require pinning.
        pinned = any(image_id in ids for ids in self.pinned.values())
        pipeline = next((n for n, labels in self.pipelines
                         if all(fnmatch.fnmatchcase(str(event.get(f"container.labels.{k}", "")), g)
                                and f"container.labels.{k}" in event for k, g in labels.items())), None)
        approved = pinned or pipeline is not None or (entry is not None and not entry.require_pinned_id)
        event["policy.image.approved"] = approved
        if approved:
            event["policy.image.approval"] = pipeline or (entry.name if entry else "pinned-id")


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
    match: ContextMatch
    allow: PrivilegeAllowance


@dataclass(slots=True)
class PrivilegedAgentsPolicy:
    """Infrastructure agents that may run with privileges, each bounded by what it may use."""

    kind: ClassVar[str] = "privileged_agents"
    requires_field: ClassVar[str] = "container.privileged"  # enrich tests it first (detectors.routing)
    sanctioned: list[AgentSanction] = field(default_factory=list)

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "sanctioned_privileged_agents"), path, "")
        entries = _expect(body.get("sanctioned_privileged_agents", []), list, path, "sanctioned_privileged_agents")
        for i, entry in enumerate(entries):
            where = f"sanctioned_privileged_agents[{i}]."
            data = _entry_head(entry, path, where, ("name", "owner", "description", "match", "allow"),
                               ("name", "owner", "description", "match", "allow"))
            self.sanctioned.append(AgentSanction(
                name=data["name"], owner=data["owner"], description=data["description"],
                match=ContextMatch.load(data["match"], path, f"{where}match."),
                allow=PrivilegeAllowance.load(data["allow"], path, f"{where}allow.")))

    def enrich(self, event: Event) -> None:
        if "container.privileged" not in event:
            return
        hit = next((s for s in self.sanctioned if s.match.matches(event) and s.allow.covers(event)), None)
        event["policy.privilege.sanctioned"] = hit is not None
        if hit is not None:
            event["policy.privilege.sanction"] = hit.name


# --- log retention ----------------------------------------------------------------------------------
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
# Engine defaults when an option is not set (moby: json-file keeps one unbounded file; local keeps
# five files of 20 MB).
_DRIVER_DEFAULTS = {"json-file": (None, 1), "local": (20 * 1024**2, 5)}


def parse_size(text: str) -> int | None:
    match = _SIZE.match(text)
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def retained_bytes(driver: str, options: dict[str, str]) -> int | None:
    """How many bytes of log the driver keeps at most (None: unbounded or not a local file driver)."""
    if driver not in _DRIVER_DEFAULTS:
        return None
    default_size, default_files = _DRIVER_DEFAULTS[driver]
    size = parse_size(options["max-size"]) if "max-size" in options else default_size
    if size is None or size <= 0:
        return None
    try:
        files = int(options.get("max-file", default_files))
    except ValueError:
        files = default_files
    return size * max(files, 1)


@dataclass(slots=True)
class LogRetentionPolicy:
    """The least a container's local log must be able to hold."""

    kind: ClassVar[str] = "log_retention"
    requires_field: ClassVar[str] = "container.logging.driver"  # enrich tests it first (detectors.routing)
    minimum_bytes: int = 0
    owner: str = ""
    description: str = ""

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "minimum_local_log", "owner", "description"), path, "")
        for key in ("minimum_local_log", "owner", "description"):
            if key not in body:
                raise PolicyError(path, key, "missing")
        size = parse_size(str(_expect(body["minimum_local_log"], str, path, "minimum_local_log")))
        if size is None:
            raise PolicyError(path, "minimum_local_log", "expected a size such as '2m' or '512k'")
        self.minimum_bytes = max(self.minimum_bytes, size)
        self.owner = _expect(body["owner"], str, path, "owner")
        self.description = _expect(body["description"], str, path, "description")

    def enrich(self, event: Event) -> None:
        driver = event.get("container.logging.driver")
        if not driver:
            return
        prefix = "container.logging.options."
        options = {k[len(prefix):]: str(v) for k, v in event.items() if k.startswith(prefix)}
        kept = retained_bytes(str(driver), options)
        if kept is not None:
            event["policy.logging.retained_bytes"] = kept
        event["policy.logging.retention_below_minimum"] = kept is not None and kept < self.minimum_bytes


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
    images: tuple[str, ...]  # image reference globs the service may run
    logging_drivers: tuple[str, ...]
    host_mounts: tuple[str, ...]  # host path globs it may bind-mount (none when empty)
    capabilities: tuple[str, ...]

    def violations(self, spec: Event) -> list[str]:
        """What in a service spec (flattened ``container.*`` fields) this declaration does not allow."""
        found = []
        image = str(spec.get("container.image.name") or "")
        if not any(fnmatch.fnmatchcase(image.split("@", 1)[0], g) for g in self.images):
            found.append(f"image {image}")
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
    networks: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (entry name, globs)
    services: list[DeclaredService] = field(default_factory=list)
    placement: list[PlacementLabels] = field(default_factory=list)

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "orchestrated_networks", "declared_services", "placement_labels"), path, "")
        for i, entry in enumerate(_expect(body.get("orchestrated_networks", []), list, path, "orchestrated_networks")):
            where = f"orchestrated_networks[{i}]."
            data = _entry_head(entry, path, where, ("name", "owner", "description", "networks"),
                               ("name", "owner", "description", "networks"))
            self.networks.append((data["name"], _strings(data["networks"], path, f"{where}networks")))
        for i, entry in enumerate(_expect(body.get("declared_services", []), list, path, "declared_services")):
            where = f"declared_services[{i}]."
            fields_ = ("name", "owner", "description", "services", "images", "logging_drivers", "host_mounts",
                       "capabilities")
            data = _entry_head(entry, path, where, fields_, ("name", "owner", "description", "services", "images"))
            self.services.append(DeclaredService(
                name=data["name"], owner=data["owner"], description=data["description"],
                services=_strings(data["services"], path, f"{where}services"),
                images=_strings(data["images"], path, f"{where}images"),
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
        networks = event.get("container.network.names")
        if networks and event.get("event.module") == "docker":
            hit = next((name for name, globs in self.networks if _globs_match(globs, list(networks))), None)
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


for _kind in (ImagesPolicy, PrivilegedAgentsPolicy, LogRetentionPolicy, EngineConfigPolicy, OrchestrationPolicy):
    register_policy_kind(_kind)
