"""What the platform tells its detectors about provenance: who signs images, which networks it made.

Two policy kinds, normally written by the platform itself into its published policy directory
(a platform team would keep them in the same repository as the rest of its policy):

``trust``: the signers whose image signatures are believed: a name, an Ed25519 public key, and
where the detached signatures are (``lab.provenance`` defines the format)::

    kind: trust
    signers:
      - {name: platform-image-pipeline, owner: ..., description: ..., public_key: <base64>, signatures: <dir>}

``platform_networks``: the engine networks the platform created, by id, with their purpose
(``lan``, ``dev``, ``internet``) and whether the orchestrator owns them::

    kind: platform_networks
    networks:
      - {id: <engine network id>, network: <its name, for people>, purpose: dev, orchestrated: false}

``Platform`` is what sanctions consult: the verified provenance of an image id, and the platform
record of a network id. Both fail closed: no trust policy, no provenance; an unknown network id
is not the platform's. A name, a label or a tag never enters either answer.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from detectors.policies import Policy, PolicyError, _expect, _known, register_policy_kind
from lab.provenance import Provenance, public_key_from_text, signature_file, verify

NETWORK_PURPOSES = ("lan", "dev", "internet")
_NEGATIVE_TTL_S = 2.0  # an image signed a moment after it was first seen is believed soon after
_RELOAD_EVERY_S = 0.5  # an unknown network id re-reads the inventory at most this often
_MAX_CACHED = 4096


@dataclass(frozen=True, slots=True)
class Signer:
    name: str
    owner: str
    description: str
    public_key: Ed25519PublicKey
    signatures: Path


@register_policy_kind
@dataclass(slots=True)
class TrustPolicy:
    kind: ClassVar[str] = "trust"
    requires_field: ClassVar[str] = "container.image.id"  # enrich tests it first (detectors.routing)
    signers: dict[str, Signer] = field(default_factory=dict)
    _cache: dict[str, tuple[float, tuple[Provenance, ...]]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def load(self, body: dict[str, Any], path: Path) -> None:
        _known(body, ("kind", "signers"), path, "")
        for i, entry in enumerate(_expect(body.get("signers", []), list, path, "signers")):
            where = f"signers[{i}]."
            _expect(entry, dict, path, where.rstrip("."))
            fields = ("name", "owner", "description", "public_key", "signatures")
            _known(entry, fields, path, where)
            for name in fields:
                if name not in entry:
                    raise PolicyError(path, f"{where}{name}", "missing")
                _expect(entry[name], str, path, f"{where}{name}")
            try:
                key = public_key_from_text(entry["public_key"])
            except ValueError as exc:
                raise PolicyError(path, f"{where}public_key", str(exc)) from exc
            store = Path(entry["signatures"])
            if not store.is_absolute():
                store = (path.parent / store).resolve()
            self.signers[entry["name"]] = Signer(entry["name"], entry["owner"], entry["description"], key, store)

    def provenance(self, image_id: Any) -> tuple[Provenance, ...]:
        """Every verified signature over ``image_id``, by any trusted signer (cached)."""
        if not isinstance(image_id, str) or not image_id.startswith("sha256:"):
            return ()
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(image_id)
        if cached is not None and (cached[1] or now - cached[0] < _NEGATIVE_TTL_S):
            return cached[1]
        found: list[Provenance] = []
        for store in {s.signatures for s in self.signers.values()}:
            with contextlib.suppress(OSError, ValueError):
                document = signature_file(store, image_id).read_bytes()
                keys = {s.name: s.public_key for s in self.signers.values() if s.signatures == store}
                found.extend(verify(document, image_id, keys))
        result = tuple(found)
        with self._lock:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[image_id] = (now, result)
        return result

    def enrich(self, event: dict[str, Any]) -> None:
        """For people reading an alert: which verified identity the container's image has, if any."""
        image_id = event.get("container.image.id")
        if not image_id or event.get("event.module") != "docker":
            return
        found = self.provenance(image_id)
        event["policy.provenance.signed"] = bool(found)
        if found:
            event["policy.provenance.identity"] = found[0].identity
            event["policy.provenance.signer"] = found[0].signer


@dataclass(frozen=True, slots=True)
class PlatformNetwork:
    id: str
    name: str
    purpose: str
    orchestrated: bool


def _network_entries(body: Any, path: Path) -> list[PlatformNetwork]:
    _expect(body, dict, path, "(document)")
    _known(body, ("kind", "networks"), path, "")
    found = []
    for i, entry in enumerate(_expect(body.get("networks") or [], list, path, "networks")):
        where = f"networks[{i}]."
        _expect(entry, dict, path, where.rstrip("."))
        _known(entry, ("id", "network", "purpose", "orchestrated"), path, where)
        for name in ("id", "purpose"):
            if name not in entry:
                raise PolicyError(path, f"{where}{name}", "missing")
        purpose = _expect(entry["purpose"], str, path, f"{where}purpose")
        if purpose not in NETWORK_PURPOSES:
            raise PolicyError(path, f"{where}purpose",
                              f"unknown purpose {purpose!r} (known: {', '.join(NETWORK_PURPOSES)})")
        found.append(PlatformNetwork(id=_expect(entry["id"], str, path, f"{where}id"),
                                     name=str(entry.get("network", "")), purpose=purpose,
                                     orchestrated=bool(_expect(entry.get("orchestrated", False), bool, path,
                                                               f"{where}orchestrated"))))
    return found


@register_policy_kind
@dataclass(slots=True)
class PlatformNetworksPolicy:
    """The inventory is rewritten while monitors run (runs create networks after a monitor starts):
    an id not yet known re-reads the files it came from, at most every half second."""

    kind: ClassVar[str] = "platform_networks"
    applies_to: ClassVar[frozenset[str]] = frozenset()  # enriches nothing: sanctions ask it directly
    networks: dict[str, PlatformNetwork] = field(default_factory=dict)
    _sources: dict[Path, float] = field(default_factory=dict, repr=False)  # file -> mtime when read
    _last_reload: float = 0.0
    reload_errors: int = 0

    def load(self, body: dict[str, Any], path: Path) -> None:
        for network in _network_entries(body, path):
            self.networks[network.id] = network
        with contextlib.suppress(OSError):
            self._sources[path] = path.stat().st_mtime

    def enrich(self, event: dict[str, Any]) -> None:
        return None

    def network(self, network_id: Any) -> PlatformNetwork | None:
        if not isinstance(network_id, str):
            return None
        found = self.networks.get(network_id)
        if found is None and self._reload():
            found = self.networks.get(network_id)
        return found

    def _reload(self) -> bool:
        now = time.monotonic()
        if now - self._last_reload < _RELOAD_EVERY_S:
            return False
        self._last_reload = now
        changed = False
        fresh: dict[str, PlatformNetwork] = {}
        for source, seen in list(self._sources.items()):
            try:
                mtime = source.stat().st_mtime
                changed = changed or mtime != seen
                fresh.update((n.id, n) for n in _network_entries(yaml.safe_load(source.read_text()), source))
                self._sources[source] = mtime
            except (OSError, ValueError, yaml.YAMLError):
                # Rewritten atomically, so this is a file removed or broken by hand: keep what we knew.
                self.reload_errors += 1
                return False
        if changed:
            self.networks = fresh
        return changed


class Platform:
    """The platform's answers, from whichever of its published policies were loaded (fail closed)."""

    def __init__(self, policy: Policy | None) -> None:
        self._policy = policy

    def provenance(self, image_id: Any) -> tuple[Provenance, ...]:
        trust = self._policy.section(TrustPolicy.kind) if self._policy is not None else None
        return trust.provenance(image_id) if trust is not None else ()

    def network(self, network_id: Any) -> PlatformNetwork | None:
        networks = self._policy.section(PlatformNetworksPolicy.kind) if self._policy is not None else None
        return networks.network(network_id) if networks is not None else None


UNBOUND = Platform(None)
