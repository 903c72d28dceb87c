"""Offline lab images: a Debian root filesystem from ``debootstrap``, imported with ``docker import``.

No registry is involved. The image is tagged with a hash of its recipe (suite, variant, packages,
mirror), so a second run finds the tag and builds nothing. The root filesystem tarball is cached
too, so an engine whose data root was wiped re-imports in seconds instead of re-bootstrapping.
Every package any scenario needs is baked in here: nothing runs apt inside a container.

The lab base image is one recipe; another recipe (other packages, another repository name) makes
another root filesystem the same way, cached by its own hash. A single package the platform's
builds install with ``dpkg -i`` is fetched on the host with ``apt-get download`` (``host_deb``), never
inside a container or a build step, which have no network.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import docker.errors

from lab.engine import Engine
from lab.errors import LabError
from lab.mounts import detach_under

IMAGE_REPOSITORY = "stowaway/base"


@dataclass(frozen=True, slots=True)
class ImageRecipe:
    suite: str = "bookworm"
    variant: str = "minbase"
    mirror: str = field(default_factory=lambda: os.environ.get("STOWAWAY_DEBIAN_MIRROR", "http://deb.debian.org/debian"))
    # Why each package: the scenarios' payloads and their benign twins run these, offline.
    packages: tuple[str, ...] = (
        "iptables",  # NAT redirect inside a container's namespace
        "iproute2",  # ip, ss: network set-up and inspection
        "procps",  # ps, pkill
        "python3",  # the sinkhole, relays, beacons and payloads are small Python programs (asyncio)
        "netcat-openbsd",  # raw TCP clients
        "socat",  # relays and proxy chains
        "nginx-light",  # the real nginx, for the masquerade twin
        "curl",  # HTTP clients, through proxies
    )
    # What the image is imported as. Not part of the digest: the root filesystem does not depend on
    # it (and the lab base image keeps the tag it always had).
    repository: str = IMAGE_REPOSITORY

    def digest(self) -> str:
        recipe = asdict(self)
        del recipe["repository"]
        blob = json.dumps(recipe, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def tag(self) -> str:
        return f"{self.repository}:{self.digest()}"


def _image_exists(engine: Engine, tag: str) -> bool:
    try:
        engine.client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _remove_rootfs(tmp: Path) -> None:
    """Detach whatever debootstrap left mounted in a root filesystem (``proc`` and ``sys`` when it was
    killed before its exit trap ran), then delete it. Never delete through a mount: if one stays, the
    directory stays, and the error says which."""
    left = detach_under(tmp)
    if left:
        raise LabError(f"cannot remove {tmp}: still mounted there: {', '.join(left)}")
    shutil.rmtree(tmp, ignore_errors=True)


def _bootstrap(recipe: ImageRecipe, tarball: Path) -> None:
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise LabError("debootstrap is missing: `apt-get install -y debootstrap` (or run `stowaway setup`)")
    # Called under the recipe's lock: a directory of this recipe left by a build that was killed is
    # nobody's now.
    prefix = f"stowaway-rootfs-{recipe.digest()}-"
    for stale in tarball.parent.glob(prefix + "*"):
        _remove_rootfs(stale)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=tarball.parent))
    try:
        root = tmp / "root"
        command = [
            debootstrap, f"--variant={recipe.variant}", f"--include={','.join(recipe.packages)}",
            recipe.suite, str(root), recipe.mirror,
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
        if result.returncode != 0:
            raise LabError(f"debootstrap failed ({result.returncode}): {result.stdout[-1500:]}{result.stderr[-1500:]}")
        # The apt lists and caches are dead weight: containers never run apt.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / junk, ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], check=True)
        partial.rename(tarball)
    finally:
        _remove_rootfs(tmp)


def ensure_base_image(engine: Engine, recipe: ImageRecipe | None = None) -> str:
    """Return the tag of the lab base image (or of ``recipe``'s image), building it only if its
    recipe changed. Parallel runs asking for the same recipe bootstrap it once.

    Raises:
        LabError: debootstrap or the import failed; the message carries their output.
    """
    recipe = recipe or ImageRecipe()
    if _image_exists(engine, recipe.tag):
        return recipe.tag
    cache = engine.paths.image_cache
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / f"base-{recipe.digest()}.tar"
    with open(cache / f"base-{recipe.digest()}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if _image_exists(engine, recipe.tag):
            return recipe.tag
        if not tarball.exists():
            _bootstrap(recipe, tarball)
        with open(tarball, "rb") as stream:
            result = engine.cli("import", "--change", 'CMD ["/bin/sh"]', "-", recipe.tag, input=stream.read())
    if result.returncode != 0:
        raise LabError(f"docker import of {tarball} failed: {result.stderr.decode(errors='replace')}")
    return recipe.tag


_PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


def host_deb(engine: Engine, package: str) -> Path:
    """The host's candidate ``.deb`` of ``package`` (Debian's own archive, through the host's apt),
    downloaded once into the image cache and reused offline after that.

    Raises:
        LabError: not a package name, apt-get is missing, or the download failed.
    """
    if not _PACKAGE_NAME.match(package):
        raise LabError(f"{package!r} is not a Debian package name")
    directory = engine.paths.image_cache / "debs"
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"{package}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = sorted(directory.glob(f"{package}_*.deb"))
        if found:
            return found[-1]
        apt_get = shutil.which("apt-get")
        if apt_get is None:
            raise LabError(f"apt-get is missing: cannot fetch {package} for the image build")
        result = subprocess.run([apt_get, "download", "-q", package], cwd=directory, capture_output=True, text=True,
                                timeout=300, check=False)
        found = sorted(directory.glob(f"{package}_*.deb"))
        if result.returncode != 0 or not found:
            raise LabError(f"`apt-get download {package}` failed ({result.returncode}): {result.stderr[-1000:]}")
        return found[-1]
