"""Image provenance: the platform pipeline's detached signatures over image ids, and their check.

A sanction may only trust what a workload cannot say about itself (DESIGN.md). Names, labels and
tags are chosen by whoever starts a container; a signature made by a key the platform keeps
outside every container is not. The lab's image pipeline (``lab.pipeline``) signs each image it
builds; the detectors verify offline, with the public key the pipeline publishes.

The format follows cosign's "simple signing" payload, stored offline instead of in a registry:

``<store>/sha256-<hex>.json`` holds ``{"signatures": [envelope, ...]}`` for one image, where an
envelope is ``{"keyid": ..., "payload": base64(payload), "signature": base64(Ed25519(payload))}`` and
the payload is::

    {"critical": {"identity": {"docker-reference": "platform/egress-proxy"},
                  "image": {"docker-manifest-digest": "sha256:<image id>"},
                  "type": "cosign container image signature"},
     "optional": {"command": ["python3", "/opt/proxy.py"], "recipe": "<hash>"}}

One deliberate difference from cosign: with no registry there is no manifest, so the digest signed
is the image id (the digest of the image's config), which is what the engine reports for every
container. ``optional.command`` is the command the image was built to run (entrypoint + cmd), so a
sanction can require that a container runs its image as built, not a command of its own choosing.

This module is pure (no engine, no I/O beyond the files it is handed) so that the lab, which signs,
and the detectors, which verify, share one definition of the format.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_TYPE = "cosign container image signature"
_MAX_DOCUMENT = 1 << 20  # a signature file is a few hundred bytes; refuse to parse a huge one


@dataclass(frozen=True, slots=True)
class Provenance:
    """What a verified signature says about an image."""

    signer: str  # the trusted signer's name (from the detectors' trust policy)
    identity: str  # the repository the pipeline built it as ("platform/egress-proxy")
    command: tuple[str, ...] | None = None  # entrypoint + cmd as built; None: not recorded
    annotations: Mapping[str, Any] = field(default_factory=dict)


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_text(public_key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key, base64: the form the trust policy holds."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """Raises ValueError when ``text`` is not a base64 Ed25519 public key."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not base64: {exc}") from exc
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, this is {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The platform's signing key: created once, readable by root only, never mounted anywhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    with _locked(path.with_suffix(".lock")):
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path}: not an Ed25519 private key")
            return key
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        os.replace(tmp, path)
        return key


def signature_file(store: Path, image_id: str) -> Path:
    algorithm, _, digest = image_id.partition(":")
    if not digest or not digest.isalnum() or not algorithm.isalnum():
        raise ValueError(f"not an image id: {image_id!r}")
    return store / f"{algorithm}-{digest}.json"


def payload_for(image_id: str, identity: str, command: Sequence[str] | None,
                extra: Mapping[str, Any] | None = None) -> bytes:
    optional: dict[str, Any] = dict(extra or {})
    if command is not None:
        optional["command"] = list(command)
    payload = {"critical": {"identity": {"docker-reference": identity},
                            "image": {"docker-manifest-digest": image_id},
                            "type": SIGNATURE_TYPE},
               "optional": optional}
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def sign(key: Ed25519PrivateKey, store: Path, image_id: str, identity: str, command: Sequence[str] | None,
         extra: Mapping[str, Any] | None = None) -> Path:
    """Add a signature for ``image_id`` as ``identity`` to the store (atomically; replaces an older
    signature of the same key and identity). Returns the signature file."""
    store.mkdir(parents=True, exist_ok=True)
    path = signature_file(store, image_id)
    payload = payload_for(image_id, identity, command, extra)
    envelope = {"keyid": key_id(key.public_key()), "payload": base64.b64encode(payload).decode(),
                "signature": base64.b64encode(key.sign(payload)).decode()}
    with _locked(store / ".lock"):
        envelopes = [e for e in _envelopes(path) if not _same_signer_and_identity(e, envelope["keyid"], identity)]
        envelopes.append(envelope)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"signatures": envelopes}, indent=1) + "\n")
        os.replace(tmp, path)
    return path


def verify(document: bytes, image_id: str, signers: Mapping[str, Ed25519PublicKey]) -> list[Provenance]:
    """Every signature in ``document`` that a trusted signer made over exactly ``image_id``.

    Never raises on bad input: a malformed file, an unknown key, a signature over another image or
    a payload of another type is simply not provenance."""
    if len(document) > _MAX_DOCUMENT:
        return []
    try:
        envelopes = json.loads(document).get("signatures")
    except (ValueError, AttributeError):
        return []
    if not isinstance(envelopes, list):
        return []
    by_key = {key_id(key): (name, key) for name, key in signers.items()}
    found = []
    for envelope in envelopes:
        hit = _verified(envelope, image_id, by_key)
        if hit is not None:
            found.append(hit)
    return found


def _verified(envelope: Any, image_id: str, by_key: Mapping[str, tuple[str, Ed25519PublicKey]]) -> Provenance | None:
    if not isinstance(envelope, dict) or envelope.get("keyid") not in by_key:
        return None
    name, key = by_key[envelope["keyid"]]
    try:
        payload = base64.b64decode(envelope["payload"], validate=True)
        key.verify(base64.b64decode(envelope["signature"], validate=True), payload)
        body = json.loads(payload)
        critical = body["critical"]
        if critical["type"] != SIGNATURE_TYPE or critical["image"]["docker-manifest-digest"] != image_id:
            return None
        identity = critical["identity"]["docker-reference"]
        optional = body.get("optional") or {}
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return None
    if not isinstance(identity, str) or not isinstance(optional, dict):
        return None
    command = optional.get("command")
    if not (isinstance(command, list) and all(isinstance(part, str) for part in command)):
        command = None
    return Provenance(signer=name, identity=identity, command=tuple(command) if command is not None else None,
                      annotations={k: v for k, v in optional.items() if k != "command"})


def _envelopes(path: Path) -> list[dict[str, Any]]:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        found = json.loads(path.read_text()).get("signatures")
        if isinstance(found, list):
            return [e for e in found if isinstance(e, dict)]
    return []


def _same_signer_and_identity(envelope: dict[str, Any], keyid: str, identity: str) -> bool:
    if envelope.get("keyid") != keyid:
        return False
    with contextlib.suppress(ValueError, KeyError, TypeError):
        body = json.loads(base64.b64decode(envelope["payload"]))
        return body["critical"]["identity"]["docker-reference"] == identity
    return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
