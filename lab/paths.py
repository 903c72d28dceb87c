"""Where the lab keeps its state on the host. Every path is lab-owned; nothing here is the host's own.

``STOWAWAY_STATE`` moves the persistent state (engine data root, image cache, run records) and
``STOWAWAY_RUNTIME`` the volatile part (socket, pid file, exec root). Both default to root-owned
system locations because the private engine needs root anyway.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class LabPaths:
    state: Path  # persistent: survives reboots, holds the image cache and the engine's data root
    runtime: Path  # volatile: socket, pid file, exec root, leases

    @classmethod
    def default(cls) -> LabPaths:
        return cls(
            state=Path(os.environ.get("STOWAWAY_STATE", "/var/lib/stowaway")),
            runtime=Path(os.environ.get("STOWAWAY_RUNTIME", "/run/stowaway")),
        )

    # --- private engine -------------------------------------------------------------------
    @property
    def engine_socket(self) -> Path:
        return self.runtime / "docker.sock"

    @property
    def engine_pidfile(self) -> Path:
        return self.runtime / "docker.pid"

    @property
    def engine_exec_root(self) -> Path:
        return self.runtime / "exec"

    @property
    def engine_data_root(self) -> Path:
        return self.state / "engine"

    @property
    def engine_config(self) -> Path:
        return self.state / "etc" / "daemon.json"

    @property
    def engine_log(self) -> Path:
        return self.state / "log" / "dockerd.log"

    @property
    def runtime_wrapper(self) -> Path:
        return self.state / "bin" / "stowaway-runc"

    @property
    def leases(self) -> Path:
        return self.runtime / "leases"

    @property
    def engine_lock(self) -> Path:
        return self.runtime / "engine.lock"

    # --- images, runs, host stand-ins -----------------------------------------------------
    @property
    def image_cache(self) -> Path:
        return self.state / "images"

    @property
    def runs(self) -> Path:
        return self.state / "runs"

    @property
    def host_root(self) -> Path:
        """Lab-owned host directory that stands in for host system files (markers, fake /etc)."""
        return self.state / "host"

    @property
    def published_policy(self) -> Path:
        """Policy the lab's platform publishes (the pipeline's signer, the networks it created);
        detectors load it beside their own policy files."""
        return self.state / "policy"

    # --- the platform's provenance ----------------------------------------------------------
    @property
    def platform_key(self) -> Path:
        """The image pipeline's private signing key: root-only, never mounted into a container."""
        return self.state / "platform" / "key" / "signing-key.pem"

    @property
    def signatures(self) -> Path:
        """Detached signatures the pipeline made, one file per image id."""
        return self.state / "platform" / "signatures"

    def ensure(self) -> None:
        for path in (self.state, self.runtime, self.leases, self.image_cache, self.runs, self.host_root):
            path.mkdir(parents=True, exist_ok=True)
