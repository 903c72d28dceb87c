"""System set-up: the host packages the lab needs, checked and (on Debian/Ubuntu, as root) installed.

``stowaway setup`` calls ``plan()`` then ``apply()``. Everything that inspects the host takes its
inputs as arguments (os-release text, a package query, the uid), so the decision logic is tested
without touching the machine.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Debian package -> why the lab needs it. Names are Debian's; Ubuntu uses the same ones.
REQUIRED_PACKAGES: dict[str, str] = {
    "docker.io": "dockerd and the docker CLI: the lab's private engine",
    "libpcap0.8": "packet capture on the lab bridges (scapy)",
    "debootstrap": "the offline base image, built from Debian packages with no registry",
    "iptables": "the host guard rules that keep lab traffic inside 198.18.0.0/15",
}
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}

PackageQuery = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class SetupPlan:
    debian_like: bool  # apt is the way to install on this host
    root: bool
    missing: tuple[str, ...]  # Debian package names not installed
    notes: tuple[str, ...] = field(default=())

    @property
    def install_command(self) -> list[str]:
        return ["apt-get", "install", "-y", "--no-install-recommends", *self.missing]

    @property
    def can_apply(self) -> bool:
        """True when this process may install what is missing itself."""
        return bool(self.missing) and self.debian_like and self.root

    def instructions(self) -> str:
        """What a person should run, for the cases this process does not handle itself."""
        if not self.missing:
            return "nothing to install: every package the lab needs is present"
        command = " ".join(shlex.quote(part) for part in self.install_command)
        if self.debian_like:
            prefix = "" if self.root else "sudo "
            return f"run: {prefix}apt-get update && {prefix}{command}"
        wanted = ", ".join(f"{name} ({why})" for name, why in REQUIRED_PACKAGES.items() if name in self.missing)
        return (f"this host is not Debian/Ubuntu: install the equivalents of {wanted} with its package "
                f"manager (on Debian/Ubuntu it would be `{command}`)")


def read_os_release(path: Path = Path("/etc/os-release")) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def is_debian_like(os_release: str) -> bool:
    """Debian, Ubuntu and their derivatives (ID or ID_LIKE names debian or ubuntu)."""
    values: set[str] = set()
    for line in os_release.splitlines():
        key, _, value = line.partition("=")
        if key in ("ID", "ID_LIKE"):
            values.update(value.strip().strip('"').split())
    return bool(values & {"debian", "ubuntu"})


def dpkg_installed(package: str) -> bool:
    """True when dpkg says the package is installed (False when dpkg itself is absent)."""
    if shutil.which("dpkg-query") is None:
        return False
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True,
                            check=False)
    return result.returncode == 0 and result.stdout.strip().endswith(" installed")


def plan(os_release: str | None = None, installed: PackageQuery = dpkg_installed, uid: int | None = None,
         packages: Sequence[str] = tuple(REQUIRED_PACKAGES)) -> SetupPlan:
    os_release = read_os_release() if os_release is None else os_release
    uid = os.geteuid() if uid is None else uid
    debian = is_debian_like(os_release)
    notes: list[str] = []
    if not debian:
        # No dpkg to ask: judge by the commands the packages provide.
        commands = {"docker.io": "dockerd", "debootstrap": "debootstrap", "iptables": "iptables"}
        missing = tuple(p for p in packages if p in commands and shutil.which(commands[p]) is None)
        notes.append("not a Debian/Ubuntu host: checked for the commands, not the packages")
    else:
        missing = tuple(p for p in packages if not installed(p))
    if uid != 0:
        notes.append("the private engine needs root: run `stowaway` as root, or set DOCKER_HOST to an engine")
    return SetupPlan(debian_like=debian, root=uid == 0, missing=missing, notes=tuple(notes))


def apply(setup: SetupPlan, run: Callable[..., subprocess.CompletedProcess[bytes]] = subprocess.run) -> int:
    """Install what is missing with apt (refreshing the index first). Returns apt's exit status."""
    if not setup.can_apply:
        return 0
    env = {**os.environ, **APT_ENV}
    update = run(["apt-get", "update"], env=env, check=False)
    if update.returncode != 0:
        return update.returncode
    return run(setup.install_command, env=env, check=False).returncode
