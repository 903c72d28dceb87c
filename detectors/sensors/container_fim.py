"""File integrity inside containers: which paths of each container the FIM sensor watches.

The files an intruder touches to set up an evasion environment: the dynamic linker's preload list,
cron, SSH keys and the account databases. They are watched in each container's root as the host
sees it (overlay2's merged directory: inotify sees writes made through the overlay, and the first
hash is the image's copy of the file), from the moment the engine reports the container started.

A writable bind mount whose source looks like a filesystem root (it holds ``etc/``) is a host
filesystem reached through the container (``-v /:/host``): the same paths under it are watched as
host files, with the container that mounted them as the object to blame.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from detectors.event import Event
from detectors.sensors.containers import ContainerDirectory, ContainerInfo
from detectors.sensors.fim import Watch

# (path inside the root, recursive). Files may not exist yet: creating them is the change.
SENSITIVE = (
    ("/etc/ld.so.preload", False),
    ("/etc/passwd", False),
    ("/etc/shadow", False),
    ("/etc/group", False),
    ("/etc/sudoers", False),
    ("/etc/crontab", False),
    ("/etc/cron.d", False),
    ("/etc/cron.hourly", False),
    ("/etc/cron.daily", False),
    ("/var/spool/cron", True),
    ("/root", True),  # /root/.ssh/authorized_keys, made with mkdir -p at attack time
    ("/home", True),
)


def watches_for(info: ContainerInfo) -> list[Watch]:
    fields = tuple(info.fields().items())
    out: list[Watch] = []
    roots = [(info.merged_dir, "", "container-file")] if info.merged_dir else []
    roots += [(src, dest, "host-file") for src, dest in info.writable_mounts if os.path.isdir(os.path.join(src, "etc"))]
    for root, view, role in roots:
        for path, recursive in SENSITIVE:
            host_path = root.rstrip("/") + path
            parent = os.path.dirname(host_path)
            if not (os.path.isdir(host_path) or os.path.isdir(parent)):
                continue  # neither the file's directory nor the directory exists: nothing to anchor on
            # A directory that does not exist yet is anchored on its parent; it keeps its recursion for
            # when it is made (fim.FimSensor adopts it then, with whatever was written into it).
            out.append(Watch(path=host_path, mode="hash", recursive=recursive,
                             container_id=info.id, role=role, root=root, view=view, fields=fields,
                             changed_since=info.started_at))
    return out


def follow_container_files(directory: ContainerDirectory) -> Callable[[Event], list[Watch]]:
    """A FimSensor ``follow`` function: watch each container's sensitive files from its start."""

    def follow(event: Event) -> list[Watch]:
        directory.observe(event)
        if event.get("event.action") != "start":
            return []
        # The engine's container start on a host; on a node, the agent's own (containerd's task started).
        engine = event.get("event.module") == "docker" and event.get("event.type") == "container"
        if not (engine or event.get("event.dataset") == "containerd.task"):
            return []
        info = directory.get(event.get("container.id") or "")
        return watches_for(info) if info is not None else []

    return follow
