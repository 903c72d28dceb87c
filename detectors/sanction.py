"""What a sanction may bind to: provenance the platform controls, never what a workload says.

A workload chooses its own name, labels, image reference and network names, so an adversary who
has read the policy copies them. What it cannot produce is a signature made with the platform's key
over the image it runs, or a network id the platform created. Every sanction's ``match`` is
therefore one of, or both of::

    match:
      image:                      # a verified signature over the container's image id
        signer: platform-image-pipeline
        identities: ["platform/egress-proxy"]   # what the pipeline built it as (globs)
        as_built: true            # and the container runs the command the image was built with
      networks: [lan, internet]   # every network it joins is one the platform made for these purposes

``as_built`` (the default) matters: without it, anyone could start the signed image with a command
of their own and inherit its sanction. A field a workload controls (``names``, ``labels``,
``images`` as references) is refused at load time with the reason, so a policy cannot drift back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from detectors.event import Event
from detectors.platform import UNBOUND, Platform
from detectors.policies import GlobTest, Policy, PolicyKind, glob_test
from detectors.policy_kinds.platform_networks import NETWORK_PURPOSES
from detectors.schema import PolicyError, nonempty, one_of, setting

SELF_DESCRIBED = {
    "names": "a container's name",
    "labels": "a workload's labels",
    "images": "an image reference (a tag anyone can apply)",
}
_WHY = ("whoever starts the workload chooses it, so an adversary can copy it: bind the sanction to `image` "
        "(a verified signature) or `networks` (networks the platform created)")


@dataclass(frozen=True, slots=True)
class SignedImage:
    """An image a trusted signer signed, as one of the identities it built."""

    signer: str = setting(doc="a signer of the `trust` kind")
    identities: tuple[str, ...] = setting(doc="globs of what the signer built the image as (`platform/egress-proxy`)",
                                          check=nonempty("name at least one identity the signer built"))
    as_built: bool = setting(True, doc="the container must also run the command the image was built with")
    _identities: GlobTest = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_identities", glob_test(self.identities))


_FIELDS: dict[str, tuple[str, str]] = {}  # prefix -> its image id and command fields


def _fields(prefix: str) -> tuple[str, str]:
    # Built once per prefix: sanctions are asked on most events, and an f-string costs as much as the lookup.
    fields = _FIELDS[prefix] = (f"{prefix}.image.id", f"{prefix}.command")
    return fields


@dataclass(frozen=True, slots=True)
class Provenanced:
    """A sanction's ``match``: a signed image, platform networks, or both (every key given must hold)."""

    REFUSED: ClassVar[dict[str, str]] = {key: f"{what}: {_WHY}" for key, what in SELF_DESCRIBED.items()}

    image: SignedImage | None = setting(None, doc="a verified signature over the container's image id")
    networks: tuple[str, ...] = setting((), each=one_of(NETWORK_PURPOSES, "network purpose"),
                                        doc="every network the container joins is one the platform created for one "
                                            "of these purposes (lan, dev, internet)")

    def validate(self, path: Path, where: str) -> None:
        if self.image is None and not self.networks:
            raise PolicyError(path, where.rstrip("."), "an empty match would sanction everything: bind the "
                                                       "sanction to `image` or `networks`")

    def matches(self, event: Event, platform: Platform = UNBOUND, prefix: str = "container") -> bool:
        if self.image is not None and not self._image_holds(event, platform, prefix):
            return False
        return not self.networks or self._networks_hold(event, platform, prefix)

    def _image_holds(self, event: Event, platform: Platform, prefix: str) -> bool:
        assert self.image is not None
        wanted = self.image
        image_field, command_field = _FIELDS.get(prefix) or _fields(prefix)
        found = platform.provenance(event.get(image_field))
        if not found:  # most events: an image nobody signed, or none at all
            return False
        signed = [p for p in found if p.signer == wanted.signer and wanted._identities(p.identity)]
        if not signed:
            return False
        if not wanted.as_built:
            return True
        command = event.get(command_field)
        if not isinstance(command, list):
            return False  # unknown command: it cannot be shown to be the image's own
        return any(p.command is not None and tuple(command) == p.command for p in signed)

    def _networks_hold(self, event: Event, platform: Platform, prefix: str) -> bool:
        ids = event.get(f"{prefix}.network.ids")
        if not isinstance(ids, list) or not ids:
            return False
        for network_id in ids:
            network = platform.network(network_id)
            if network is None or network.purpose not in self.networks:
                return False
        return True


@dataclass(slots=True)
class ProvenanceKind(PolicyKind):
    """A policy kind whose entries match on provenance: it is bound to the platform's answers."""

    platform: Platform = field(default=UNBOUND, init=False, repr=False)

    def bind(self, policy: Policy) -> None:
        self.platform = Platform(policy)
