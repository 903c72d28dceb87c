"""A pod container's root as overlay directories on a stand-in node, for the pod evidence tests: the
node-side shell scripts run for real on this machine; only the way in (kind's node_exec, the
container's pid and mount table) is stood in for."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import types
from pathlib import Path
from typing import Any

PID = 4242


class Node:
    """node_exec runs the command on this machine, with the container's /proc/<pid>/root mapped onto
    a directory that stands for its merged root."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.upper, self.lowers, self.merged = tmp / "upper", [tmp / "l1", tmp / "l2"], tmp / "merged"

    def node_exec(self, node: str, command: list[str]) -> Any:
        if command[0] == "crictl":
            return types.SimpleNamespace(exit_code=0, output='time="x" level=warning msg="no config"\n'
                                                            + json.dumps({"info": {"pid": PID}}))
        if command[0] == "cat":
            lower = ":".join(str(p) for p in self.lowers)
            line = (f"900 800 0:99 / / rw,relatime - overlay overlay rw,lowerdir={lower},"
                    f"upperdir={self.upper},workdir={self.tmp / 'work'}\n")
            return types.SimpleNamespace(exit_code=0, output=line)
        command = [c.replace(f"/proc/{PID}/root/", f"{self.merged}/") for c in command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        return types.SimpleNamespace(exit_code=done.returncode, output=done.stdout + done.stderr)


def overlay_tree(tmp_path: Path) -> Node:
    """Two image layers; the container appended to passwd, dropped a program and deleted motd."""
    n = Node(tmp_path)
    for layer in (*n.lowers, n.upper, n.merged):
        (layer / "etc").mkdir(parents=True)
    (n.lowers[0] / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (n.lowers[1] / "etc" / "motd").write_text("hello\n")
    (n.lowers[1] / "usr").mkdir()
    for root in (n.upper, n.merged):
        (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\nsvc:x:0:0::/:/bin/sh\n")
        (root / "tmp").mkdir()
        (root / "tmp" / "kworker").write_bytes(b"\x7fELF payload")
    os.mknod(n.upper / "etc" / "motd", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    return n
