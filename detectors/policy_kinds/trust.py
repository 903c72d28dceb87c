"""Policy kind ``trust``: the signers whose image signatures are believed.

Normally written by the platform itself into its published policy directory (``lab.pipeline``)::

    kind: trust
    signers:
      - {name: platform-image-pipeline, owner: ..., description: ..., public_key: <base64>, signatures: <dir>}

``lab.provenance`` defines the signature format; ``provenance(image_id)`` is what sanctions ask
(through ``detectors.platform.Platform``). No trust policy, no provenance: it fails closed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from detectors.event import Event
from detectors.policies import PolicyKind, register_policy_kind
from detectors.schema import Entry, setting
from lab.provenance import Provenance, public_key_from_text, signature_file, verify

_NEGATIVE_TTL_S = 2.0  # an image signed a moment after it was first seen is believed soon after
_MAX_CACHED = 4096


def _public_key(text: str, policy_file: Path) -> Ed25519PublicKey:
    return public_key_from_text(text)  # its ValueError says what is wrong with the key


def _store(text: str, policy_file: Path) -> Path:
    store = Path(text)
    return store if store.is_absolute() else (policy_file.parent / store).resolve()


@dataclass(frozen=True, slots=True)
class Signer(Entry):
    public_key: Ed25519PublicKey = setting(doc="the signer's Ed25519 public key, base64 of its raw 32 bytes",
                                           parse=_public_key)
    signatures: Path = setting(doc="the directory of detached signatures (relative to the policy file)",
                               parse=_store)


@register_policy_kind
@dataclass(slots=True)
class TrustPolicy(PolicyKind):
    kind: ClassVar[str] = "trust"
    writes: ClassVar[tuple[str, ...] | None] = ("policy.provenance.",)
    requires_field: ClassVar[str] = "container.image.id"  # enrich tests it first (detectors.routing)
    signers: tuple[Signer, ...] = setting((), doc="the signers whose signatures are believed")
    _cache: dict[str, tuple[float, tuple[Provenance, ...]]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def provenance(self, image_id: Any) -> tuple[Provenance, ...]:
        """Every verified signature over ``image_id``, by any trusted signer (cached)."""
        if not isinstance(image_id, str) or not image_id.startswith("sha256:"):
            return ()
        # Asked for nearly every event: a signature once verified stays believed, so it is answered
        # without the clock or the lock (one dict read is atomic; the lock keeps the writes whole).
        cached = self._cache.get(image_id)
        if cached is not None and cached[1]:
            return cached[1]
        now = time.monotonic()
        if cached is not None and now - cached[0] < _NEGATIVE_TTL_S:
            return cached[1]
        found: list[Provenance] = []
        for store in {s.signatures for s in self.signers}:
            with contextlib.suppress(OSError, ValueError):
                document = signature_file(store, image_id).read_bytes()
                keys = {s.name: s.public_key for s in self.signers if s.signatures == store}
                found.extend(verify(document, image_id, keys))
        result = tuple(found)
        with self._lock:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[image_id] = (now, result)
        return result

    def enrich(self, event: Event) -> None:
        """For people reading an alert: which verified identity the container's image has, if any."""
        image_id = event.get("container.image.id")
        if not image_id or event.get("event.module") != "docker":
            return
        found = self.provenance(image_id)
        event["policy.provenance.signed"] = bool(found)
        if found:
            event["policy.provenance.identity"] = found[0].identity
            event["policy.provenance.signer"] = found[0].signer
