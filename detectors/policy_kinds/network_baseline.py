"""Policy kind ``network-baseline``: which services are held to a learned baseline of their peers.

Services are selected by workload labels (never by scenario); how long a new service is watched
before its baseline is fixed (``learn_seconds``); and where reviewed baselines are stored. Selection
may use labels because it only chooses who is *held* to a baseline: what a reviewed baseline
sanctions is keyed by the service's signed identity (``detectors.identity``), which a container that
merely claims the labels never has. Enrichment: ``policy.baseline.*``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from detectors.event import Event
from detectors.identity import service_identity
from detectors.policies import glob_test, register_policy_kind
from detectors.sanction import ProvenanceKind
from detectors.schema import Entry, PolicyError, directory_beside, positive, setting


@dataclass(frozen=True, slots=True)
class WorkloadMatch:
    """Which workloads are held to a baseline. Every key given must match; within a key any glob may."""

    labels: dict[str, str] = setting({}, doc="label -> glob of its value")
    images: tuple[str, ...] = setting((), doc="image reference globs")
    networks: tuple[str, ...] = setting((), doc="network name globs")
    # prefix -> the event fields this match reads under it, with the compiled globs (see _compiled)
    _by_prefix: dict[str, tuple[Any, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def validate(self, path: Path, where: str) -> None:
        if not (self.labels or self.images or self.networks):
            raise PolicyError(path, where.rstrip("."), "an empty match would cover every workload")

    def _compiled(self, prefix: str) -> tuple[Any, ...]:
        compiled = (f"{prefix}.id", tuple((f"{prefix}.labels.{key}", glob_test([glob]))
                                          for key, glob in self.labels.items()),
                    f"{prefix}.image.name", glob_test(self.images), f"{prefix}.network.names", glob_test(self.networks))
        self._by_prefix[prefix] = compiled
        return compiled

    def matches(self, event: Event, prefix: str = "container") -> bool:
        compiled = self._by_prefix.get(prefix) or self._compiled(prefix)
        id_field, labels, image_field, images, networks_field, networks = compiled
        if not event.get(id_field):
            return False
        # Look each wanted label up directly: building the whole label dict per event and entry was
        # a fifth of the replay's time (the bench's rule-engine replay), for the same answer.
        for name, test in labels:
            value = event.get(name)
            if not isinstance(value, str) or not test(value):
                return False
        if self.images and not images(event.get(image_field) or ""):
            return False
        return not (self.networks and not any(networks(n) for n in event.get(networks_field) or []))


@dataclass(frozen=True, slots=True)
class Monitored(Entry):
    match: WorkloadMatch = setting(doc="the workloads held to a baseline")


@register_policy_kind
@dataclass(slots=True)
class BaselinePolicy(ProvenanceKind):
    kind: ClassVar[str] = "network-baseline"
    writes: ClassVar[tuple[str, ...] | None] = ("policy.baseline.",)
    # Its reviewed baseline files sanction peers (each file is one sanction); ``monitored`` only
    # chooses who is held to a baseline.
    sanction_lists: ClassVar[tuple[str, ...]] = ("stored_baselines",)
    requires_field: ClassVar[str] = "container.id"  # enrich tests it first (detectors.routing)
    learn_seconds: float = setting(10.0, check=positive, doc="how long a new service is watched before its "
                                                             "baseline is fixed")
    stored: tuple[Path, ...] = setting((), key="stored_baselines", parse=directory_beside,
                                       doc="directories of reviewed baseline JSON files (relative to the policy file)")
    monitored: tuple[Monitored, ...] = setting((), doc="the services held to a baseline")

    def enrich(self, event: Event) -> None:
        if not event.get("container.id"):
            return
        hit = None
        for monitored in self.monitored:  # a loop, not next(genexpr): this runs on every container event
            if monitored.match.matches(event):
                hit = monitored
                break
        event["policy.baseline.monitored"] = hit is not None
        if hit is not None:
            event["policy.baseline.scope"] = hit.name
            event["policy.baseline.service"] = service_identity(event, platform=self.platform)
            if event.get("destination.container.id"):
                # A reviewed baseline's peers must not be reachable by a container that merely claims
                # their labels: peers are named the same way as services.
                event["policy.baseline.peer_service"] = service_identity(event, "destination.container",
                                                                         self.platform)
