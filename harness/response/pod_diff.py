"""A pod container's filesystem diff against its image, and the files it dropped, read on its node.

A pod's root is an overlay that containerd's snapshotter mounts on the node: the upper directory
holds everything the container wrote, the lower directories are its image's layers. Read through
the node (``node_exec``, as root there), the upper directory is the diff: a path that also exists in
a lower layer was changed, one that does not was added, and a whiteout (a 0:0 character device)
is a deletion. The entries have the engine's diff shape (``path``, ``kind``, ``change``), so the
dropped-file choice and the indicators are the container bundle's own.

Files are hashed as the container sees them (``/proc/<pid>/root/<path>`` on the node), so a file on a
volume that the container ran is hashed too; the diff itself covers the writable layer only, as the
engine's does. Blind spots: a directory made opaque (removed and made again) is listed as changed,
not as replaced; names holding a newline or ``|`` are not read right; past ``DIFF_LIMIT`` entries a
container's diff is cut, and the manifest says so.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from detectors.sensors.containerd import overlay_layers
from harness.response.evidence import CHANGE_KINDS
from lab import pod_container_pid

DIFF_LIMIT = 2000  # entries listed per container: a package install must not make the bundle minutes long

# Run on the node, in the upper directory, with the lower directories as arguments: one line per entry,
# "<A|C>|<file type>|<major:minor>|/<path>".
_LIST = (
    "cd {upper} || exit 3; find . -mindepth 1 | head -n {limit} | while IFS= read -r p; do "
    "p=${{p#./}}; t=$(stat -c '%F|%t:%T' -- \"$p\") || continue; c=A; "
    "for l in \"$@\"; do if [ -e \"$l/$p\" ] || [ -L \"$l/$p\" ]; then c=C; break; fi; done; "
    "printf '%s|%s|/%s\\n' \"$c\" \"$t\" \"$p\"; done"
)
# Prints "<file type>|<size>" then, for a regular file no bigger than the limit, its sha256.
_HASH = (
    "f={path}; [ -e \"$f\" ] || [ -L \"$f\" ] || {{ echo gone; exit 0; }}; t=$(stat -c '%F' -- \"$f\"); "
    "s=$(stat -c '%s' -- \"$f\"); echo \"$t|$s\"; case \"$t\" in regular*) "
    "if [ \"$s\" -le {limit} ]; then sha256sum < \"$f\" | cut -d' ' -f1; fi;; esac"
)


class PodFiles:
    """One container of a pod, on its node: its init's pid, its diff, and a hash of any of its files.
    Has what ``evidence._dropped_files`` asks of a collector (``inspect``, ``notes``, ``hash_file``)."""

    def __init__(self, cluster: Any, node: str, container_id: str) -> None:
        self.cluster, self.node, self.container_id = cluster, node, container_id
        self.inspect: Mapping[str, Any] | None = None  # no engine inspect: no init shim to leave out
        self.notes: list[str] = []
        self._pid = 0

    def _exec(self, *command: str) -> str:
        result = self.cluster.node_exec(self.node, list(command))
        if result.exit_code != 0:
            raise RuntimeError(f"{command[0]} on {self.node} failed ({result.exit_code}): "
                               f"{result.output.strip()[-300:]}")
        return str(result.output)

    @property
    def pid(self) -> int:
        if not self._pid:
            self._pid = pod_container_pid(self.cluster, self.node, self.container_id)
        return self._pid

    def read_diff(self) -> list[dict[str, Any]]:
        upper, lower = overlay_layers(self._exec("cat", f"/proc/{self.pid}/mountinfo"))
        if not upper:
            raise RuntimeError("the container's root is not an overlay with an upper directory")
        script = _LIST.format(upper=shlex.quote(upper), limit=DIFF_LIMIT + 1)
        lines = self._exec("sh", "-c", script, "sh", *lower).splitlines()
        if len(lines) > DIFF_LIMIT:
            self.notes.append(f"diff.json: {self.container_id[:12]}: the first {DIFF_LIMIT} entries only")
            lines = lines[:DIFF_LIMIT]
        return [entry for line in lines if (entry := diff_entry(line)) is not None]

    def hash_file(self, path: str, max_bytes: int) -> dict[str, Any]:
        """sha256 and size of one file as the container sees it, or why it was not hashed."""
        on_node = f"/proc/{self.pid}/root/{path.lstrip('/')}"
        out = self._exec("sh", "-c", _HASH.format(path=shlex.quote(on_node), limit=int(max_bytes))).splitlines()
        if not out or out[0] == "gone":
            return {"skipped": "gone (removed after the diff was read)"}
        kind, _, size_text = out[0].rpartition("|")
        size = int(size_text) if size_text.isdigit() else 0
        if not kind.startswith("regular"):
            return {"skipped": f"{kind}, not a regular file"}
        if size > max_bytes:
            return {"size": size, "skipped": f"{size} bytes, over the {max_bytes}-byte limit"}
        if len(out) < 2 or len(out[1]) != 64:
            return {"skipped": "could not read it on the node"}
        return {"size": size, "sha256": out[1]}


def diff_entry(line: str) -> dict[str, Any] | None:
    """One line of the node's listing as an engine-shaped diff entry (None: not a line of it)."""
    parts = line.split("|", 3)
    if len(parts) != 4 or parts[0] not in ("A", "C") or not parts[3].startswith("/"):
        return None
    presence, kind, device, path = parts
    # A 0:0 character device is overlayfs's whiteout: the path is deleted from the image's view.
    code = 2 if kind == "character special file" and device == "0:0" else 0 if presence == "C" else 1
    return {"path": path, "kind": code, "change": CHANGE_KINDS[code]}
