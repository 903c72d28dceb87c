"""What a workload is, across deployments: its signed identity, else only what it claims.

Container ids change on every deployment; a service's identity does not. A container that runs an
image a trusted signer signed, as it was built, is that image's signed identity
(``image=platform/report-sync``), which nobody can borrow. Any other container is what it claims: its
workload label (``app``, ``app.kubernetes.io/name``, the compose or swarm service name), else its
image plus the stem of its name. Baselines (network peers, resource seasons) are keyed by it.
"""

from __future__ import annotations

from detectors.event import Event
from detectors.platform import UNBOUND, Platform
from detectors.sensors.netinventory import name_stem

IDENTITY_LABELS = ("app.kubernetes.io/name", "app", "com.docker.compose.service", "com.docker.swarm.service.name")


_IDENTITY_KEYS: dict[str, tuple[tuple[str, str], ...]] = {}  # prefix -> (label, its event field)


def claimed_identity(event: Event, prefix: str = "container") -> str:
    """What a container says it is: its workload label (``app=report-sync``), else image plus name stem."""
    keys = _IDENTITY_KEYS.get(prefix)
    if keys is None:
        keys = _IDENTITY_KEYS[prefix] = tuple((key, f"{prefix}.labels.{key}") for key in IDENTITY_LABELS)
    # The wanted labels looked up directly, without walking every field of the event.
    for key, name in keys:
        value = event.get(name)
        if value and isinstance(value, str):
            return f"{key}={value}"
    image = event.get(f"{prefix}.image.name") or ""
    stem = name_stem(event.get(f"{prefix}.name") or "")
    return f"image={image},name={stem}" if image or stem else ""


_SIGNED_KEYS: dict[str, tuple[str, str]] = {}  # prefix -> its command and image id fields


def signed_identity(event: Event, prefix: str = "container", platform: Platform = UNBOUND) -> str | None:
    """``image=<identity>`` when a trusted signer signed the container's image and the container runs
    the command it was built with, else None. The signed base image started with a command of
    someone's choosing is not a service the platform built: it is whatever that command is."""
    keys = _SIGNED_KEYS.get(prefix)
    if keys is None:  # the field names built once per prefix: this runs on every resource sample
        keys = _SIGNED_KEYS[prefix] = (f"{prefix}.command", f"{prefix}.image.id")
    command = event.get(keys[0])
    if not isinstance(command, list):
        return None
    for signed in platform.provenance(event.get(keys[1])):
        if signed.command is not None and tuple(command) == signed.command:
            return f"image={signed.identity}"
    return None


def service_identity(event: Event, prefix: str = "container", platform: Platform = UNBOUND) -> str:
    """What makes two containers "the same service" across deployments, for baselines.

    A container that runs an image a trusted signer signed, as it was built, is that image's signed
    identity (``image=platform/report-sync``), which nobody can borrow. Any other container is only
    what it claims (``claimed:app=report-sync``): it keeps its own learned baseline across
    redeployments, but a reviewed baseline names a signed identity, which it can never have."""
    signed = signed_identity(event, prefix, platform)
    if signed is not None:
        return signed
    claimed = claimed_identity(event, prefix)
    return f"claimed:{claimed}" if claimed else ""
