"""The lab's Docker engine: a private ``dockerd`` the lab starts and stops itself, or one the user names.

Choice, in order:
1. an explicit ``docker_host`` argument (the CLI's ``--docker-host``), then ``DOCKER_HOST``;
2. the embedded private engine, when running as root with ``dockerd`` installed. It has its own
   socket, data root, exec root, pid file and config under the lab's state directories, so it never
   touches a host engine, and no default bridge, so a container can only join lab networks.

Several runs may share the private engine: each holds a lease file (its pid) while it runs, and the
last one out stops the engine. A lease whose pid is dead does not count.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from lab.errors import EngineUnavailable
from lab.mounts import detach_under
from lab.paths import LabPaths
from lab.waiting import poll

INSTALL_HINT = (
    "install Docker and run as root: `apt-get install -y docker.io` (Debian/Ubuntu), "
    "or point the lab at a running engine with DOCKER_HOST=unix:///path/to/docker.sock"
)
# The engine's own address pool (swarm's gateway bridge, any network the lab did not size itself)
# stays inside the lab's reserved range too.
ENGINE_ADDRESS_POOL = {"base": "198.19.192.0/18", "size": 24}
RUNTIME_NAME = "stowaway-runc"


@dataclass(slots=True)
class Engine:
    """A Docker engine the lab may use."""

    base_url: str  # "unix:///run/stowaway/docker.sock"
    client: docker.DockerClient
    private: bool  # True: the lab's own dockerd, whose config and data root the lab owns
    paths: LabPaths

    @property
    def config_file(self) -> Path | None:
        """The daemon.json of the private engine (None for an engine the lab does not own)."""
        return self.paths.engine_config if self.private else None

    @property
    def data_root(self) -> Path | None:
        return self.paths.engine_data_root if self.private else None

    def cli(self, *args: str, input: bytes | None = None, timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
        """Run the docker CLI against this engine (for the few verbs the SDK lacks, e.g. import)."""
        docker_cli = shutil.which("docker")
        if docker_cli is None:
            raise EngineUnavailable(f"the docker CLI is missing: {INSTALL_HINT}")
        return subprocess.run(
            [docker_cli, "-H", self.base_url, *args], input=input, capture_output=True, timeout=timeout, check=False
        )


def _ping(base_url: str, timeout: int = 3) -> docker.DockerClient | None:
    try:
        client = docker.DockerClient(base_url=base_url, version="auto", timeout=timeout)
        client.ping()
    except Exception:  # any failure means "not usable"; the caller says what to do
        return None
    # Long operations (image import, swarm) need a longer timeout than the probe.
    return docker.DockerClient(base_url=base_url, version="auto", timeout=300)


def _pid_alive(pid: int) -> bool:
    """True for a running process. A zombie counts as dead: a dockerd this process started and
    stopped stays a zombie until reaped, and waiting on it here reaps it."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def live_leases(paths: LabPaths) -> list[Path]:
    alive = []
    for lease in paths.leases.glob("*"):
        try:
            pid = int(lease.read_text().strip() or "0")
        except (OSError, ValueError):
            continue
        if pid and _pid_alive(pid):
            alive.append(lease)
        else:
            lease.unlink(missing_ok=True)
    return alive


@contextlib.contextmanager
def _engine_lock(paths: LabPaths) -> Iterator[None]:
    paths.runtime.mkdir(parents=True, exist_ok=True)
    with open(paths.engine_lock, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def daemon_config(paths: LabPaths) -> dict[str, object]:
    """The private engine's canonical daemon.json. Rewritten at every start, so a tampering
    scenario that died halfway cannot leave a changed config behind."""
    return {
        "hosts": [f"unix://{paths.engine_socket}"],
        "data-root": str(paths.engine_data_root),
        "exec-root": str(paths.engine_exec_root),
        "pidfile": str(paths.engine_pidfile),
        "bridge": "none",  # no default bridge: a container can only join a lab network
        "iptables": True,  # needed: internal networks are enforced by the engine's iptables rules
        "ip-masq": False,  # nothing is NATed off the host
        "userland-proxy": False,
        "default-address-pools": [ENGINE_ADDRESS_POOL],
        "default-runtime": RUNTIME_NAME,
        "runtimes": {RUNTIME_NAME: {"path": str(paths.runtime_wrapper)}},
        "log-driver": "json-file",
        "features": {"buildkit": False},
    }


def _install_runtime_wrapper(paths: LabPaths) -> None:
    runc = shutil.which("runc") or "/usr/sbin/runc"
    source = (Path(__file__).parent / "assets" / "runtime_wrapper.py").read_text()
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    text = f"#!{python}\n" + source.replace("@RUNC@", runc)
    paths.runtime_wrapper.parent.mkdir(parents=True, exist_ok=True)
    if not paths.runtime_wrapper.exists() or paths.runtime_wrapper.read_text() != text:
        paths.runtime_wrapper.write_text(text)
    paths.runtime_wrapper.chmod(0o755)


def write_canonical_config(paths: LabPaths) -> None:
    paths.engine_config.parent.mkdir(parents=True, exist_ok=True)
    paths.engine_config.write_text(json.dumps(daemon_config(paths), indent=2) + "\n")


def _start_private(paths: LabPaths, timeout: float) -> docker.DockerClient:
    dockerd = shutil.which("dockerd")
    if os.geteuid() != 0 or dockerd is None:
        why = "dockerd is not installed" if dockerd is None else "the private engine needs root"
        raise EngineUnavailable(f"no Docker engine could be had ({why}): {INSTALL_HINT}")
    paths.ensure()
    _install_runtime_wrapper(paths)
    write_canonical_config(paths)
    paths.engine_log.parent.mkdir(parents=True, exist_ok=True)
    paths.engine_socket.unlink(missing_ok=True)
    with open(paths.engine_log, "ab") as log:
        # A new session: the engine must outlive a SIGINT aimed at the lab's process group, so
        # that teardown can still talk to it.
        process = subprocess.Popen(
            [dockerd, "--config-file", str(paths.engine_config)],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    client = poll(lambda: _ping(f"unix://{paths.engine_socket}", timeout=2), timeout, 0.25,
                  give_up=lambda: process.poll() is not None)
    if client is not None:
        return client
    tail = paths.engine_log.read_text(errors="replace")[-2000:] if paths.engine_log.exists() else ""
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    raise EngineUnavailable(f"the private dockerd did not come up within {timeout:.0f}s; its log ends:\n{tail}")


def acquire(lease: str, docker_host: str | None = None, paths: LabPaths | None = None,
            timeout: float = 60.0) -> Engine:
    """Get an engine for one lease holder (a run, or `stowaway lab up`).

    Raises:
        EngineUnavailable: no engine could be had; the message says what to install or set.
    """
    paths = paths or LabPaths.default()
    chosen = docker_host or os.environ.get("DOCKER_HOST")
    if chosen:
        client = _ping(chosen)
        if client is None:
            raise EngineUnavailable(f"the Docker engine at {chosen} does not answer: start it, or unset DOCKER_HOST")
        return Engine(base_url=chosen, client=client, private=False, paths=paths)
    paths.ensure()
    with _engine_lock(paths):
        (paths.leases / lease).write_text(str(os.getpid()))
        base_url = f"unix://{paths.engine_socket}"
        client = _ping(base_url) or _start_private(paths, timeout)
        return Engine(base_url=base_url, client=client, private=True, paths=paths)


def release(engine: Engine, lease: str, stop_when_idle: bool = True) -> bool:
    """Drop a lease; stop the private engine if nobody else holds one. Returns True if it stopped."""
    if not engine.private:
        return False
    paths = engine.paths
    with _engine_lock(paths):
        (paths.leases / lease).unlink(missing_ok=True)
        if not stop_when_idle or live_leases(paths):
            return False
        with contextlib.suppress(Exception):
            engine.client.close()
        return stop_private(paths)


def stop_private(paths: LabPaths, timeout: float = 30.0) -> bool:
    try:
        pid = int(paths.engine_pidfile.read_text().strip())
    except (OSError, ValueError):
        return False
    if not _pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    if not poll(lambda: not _pid_alive(pid), timeout):
        os.kill(pid, signal.SIGKILL)
        poll(lambda: not _pid_alive(pid), 5, 0.1)
    # dockerd leaves the network namespaces of its sandboxes (swarm's ingress, the default one)
    # bind-mounted under its exec root when it stops; a stopped lab leaves no mounts.
    if not _pid_alive(pid):
        detach_under(paths.engine_exec_root / "netns")
    return True
