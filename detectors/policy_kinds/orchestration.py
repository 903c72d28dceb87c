"""Policy kind ``orchestration``: what only the orchestrator may do, and what it was told to do.

- ``orchestrated_networks``: networks only the orchestrator may attach workloads to (platform
  networks of these purposes, known by id; anyone can name a network ``*-overlay``);
- ``declared_services``: the spec a service may have (a signed image as one of the declared
  identities, the logging drivers, host mounts and capabilities); the swarm-drift analytic holds
  services to it;
- ``placement_labels``: node labels that drive placement, with the values a node may carry.

Declared services exempt a spec from drift; the networks and placement labels protect (a sanction
forged there would only raise more alerts).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import ClassVar

from detectors.event import Event
from detectors.platform import UNBOUND, Platform
from detectors.policies import register_policy_kind
from detectors.policy_kinds.platform_networks import NETWORK_PURPOSES
from detectors.policy_kinds.privileged_agents import capability
from detectors.sanction import ProvenanceKind, SignedImage
from detectors.schema import Entry, one_of, setting


@dataclass(frozen=True, slots=True)
class OrchestratedNetworks(Entry):
    purposes: tuple[str, ...] = setting(doc="platform network purposes only the orchestrator attaches to",
                                        each=one_of(NETWORK_PURPOSES, "network purpose"))


@dataclass(frozen=True, slots=True)
class DeclaredService(Entry):
    services: tuple[str, ...] = setting(doc="service name globs (names choose the declaration, never satisfy it)")
    image: SignedImage = setting(doc="the image it may run: signed by the pipeline, as these identities")
    logging_drivers: tuple[str, ...] = setting(("json-file",), doc="log drivers it may use")
    host_mounts: tuple[str, ...] = setting((), doc="host path globs it may bind-mount (none when empty)")
    capabilities: tuple[str, ...] = setting((), doc="capabilities it may add")

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
        allowed = {capability(c) for c in self.capabilities}
        found += [f"capability {cap}" for cap in spec.get("container.cap_add") or [] if capability(cap) not in allowed]
        return found


@dataclass(frozen=True, slots=True)
class PlacementLabels(Entry):
    labels: dict[str, tuple[str, ...]] = setting(doc="label key -> the values a node may carry")


@register_policy_kind
@dataclass(slots=True)
class OrchestrationPolicy(ProvenanceKind):
    kind: ClassVar[str] = "orchestration"
    writes: ClassVar[tuple[str, ...] | None] = ("policy.orchestration.",)
    sanction_lists: ClassVar[tuple[str, ...]] = ("declared_services",)
    networks: tuple[OrchestratedNetworks, ...] = setting((), key="orchestrated_networks",
                                                         doc="networks only the orchestrator may attach to")
    services: tuple[DeclaredService, ...] = setting((), key="declared_services", doc="declared service specs")
    placement: tuple[PlacementLabels, ...] = setting((), key="placement_labels", doc="declared placement labels")

    def declared_service(self, name: str) -> DeclaredService | None:
        return next((s for s in self.services if any(fnmatch.fnmatchcase(name, g) for g in s.services)), None)

    def enrich(self, event: Event) -> None:
        network_ids = event.get("container.network.ids")
        if isinstance(network_ids, list) and network_ids and event.get("event.module") == "docker":
            joined = [n for n in map(self.platform.network, network_ids) if n is not None and n.orchestrated]
            hit = next((entry.name for entry in self.networks if any(n.purpose in entry.purposes for n in joined)),
                       None)
            event["policy.orchestration.network_owned"] = hit is not None
            if hit:
                event["policy.orchestration.network_rule"] = hit
        changed = event.get("host.labels.changed_keys")
        if changed is not None:
            undeclared = [change for key in changed for change in self._undeclared(event, key)]
            event["policy.orchestration.undeclared_placement_labels"] = undeclared
            event["policy.orchestration.placement_change_declared"] = not undeclared

    def _undeclared(self, event: Event, key: str) -> list[str]:
        found = []
        for entry in self.placement:
            if key not in entry.labels:
                continue
            value, previous = event.get(f"host.labels.{key}"), event.get(f"host.labels.previous.{key}")
            if value is not None and value not in entry.labels[key]:
                found.append(f"{key}={value}")
            elif value is None and previous in entry.labels[key]:
                # Removing a declared value frees the node from constraints on it; removing an
                # undeclared one returns the node to its declared state.
                found.append(f"{key} removed")
        return found
