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
from typing import Any, ClassVar

from detectors.event import Event
from detectors.platform import NETWORK_PURPOSES, UNBOUND, Platform
from detectors.policies import GlobTest, PolicyError, _expect, _known, _strings, glob_test

SELF_DESCRIBED = {
    "names": "a container's name",
    "labels": "a workload's labels",
    "images": "an image reference (a tag anyone can apply)",
}


@dataclass(frozen=True, slots=True)
class SignedImage:
    signer: str
    identities: tuple[str, ...]
    as_built: bool = True
    _identities: GlobTest = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_identities", glob_test(self.identities))

    @classmethod
    def load(cls, data: Any, path: Path, where: str) -> SignedImage:
        _expect(data, dict, path, where.rstrip("."))
        _known(data, ("signer", "identities", "as_built"), path, where)
        for name in ("signer", "identities"):
            if name not in data:
                raise PolicyError(path, f"{where}{name}", "missing")
        identities = _strings(data["identities"], path, f"{where}identities")
        if not identities:
            raise PolicyError(path, f"{where}identities", "name at least one identity the signer built")
        return cls(signer=_expect(data["signer"], str, path, f"{where}signer"), identities=identities,
                   as_built=_expect(data.get("as_built", True), bool, path, f"{where}as_built"))


@dataclass(frozen=True, slots=True)
class Provenanced:
    """A sanction's ``match``: a signed image, platform networks, or both (every key given must hold)."""

    image: SignedImage | None = None
    networks: tuple[str, ...] = ()  # platform network purposes

    FIELDS: ClassVar[tuple[str, ...]] = ("image", "networks")

    @classmethod
    def load(cls, data: Any, path: Path, where: str) -> Provenanced:
        _expect(data, dict, path, where.rstrip("."))
        for key in data:
            if key in SELF_DESCRIBED:
                raise PolicyError(path, f"{where}{key}", f"{SELF_DESCRIBED[key]} is chosen by whoever starts the "
                                  "workload, so an adversary can copy it: bind the sanction to `image` (a verified "
                                  "signature) or `networks` (networks the platform created)")
        _known(data, cls.FIELDS, path, where)
        if not data:
            raise PolicyError(path, where.rstrip("."), "an empty match would sanction everything")
        networks = _strings(data.get("networks", []), path, f"{where}networks")
        for i, purpose in enumerate(networks):
            if purpose not in NETWORK_PURPOSES:
                raise PolicyError(path, f"{where}networks[{i}]",
                                  f"unknown network purpose {purpose!r} (known: {', '.join(NETWORK_PURPOSES)})")
        image = SignedImage.load(data["image"], path, f"{where}image.") if "image" in data else None
        if image is None and not networks:
            raise PolicyError(path, where.rstrip("."), "bind the sanction to `image` or `networks`")
        return cls(image=image, networks=networks)

    def matches(self, event: Event, platform: Platform = UNBOUND, prefix: str = "container") -> bool:
        if self.image is not None and not self._image_holds(event, platform, prefix):
            return False
        return not self.networks or self._networks_hold(event, platform, prefix)

    def _image_holds(self, event: Event, platform: Platform, prefix: str) -> bool:
        assert self.image is not None
        wanted = self.image
        signed = [p for p in platform.provenance(event.get(f"{prefix}.image.id"))
                  if p.signer == wanted.signer and wanted._identities(p.identity)]
        if not signed:
            return False
        if not wanted.as_built:
            return True
        command = event.get(f"{prefix}.command")
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
