"""Host guard rules: belt and braces on top of internal networks.

The engine's internal networks already drop traffic that leaves a lab subnet. The lab adds its own
host rules so that, even if an engine setting is wrong, nothing from the lab range is forwarded to
any address outside it and nothing outside reaches in (FORWARD); and so that nothing in the lab (a
container, a pod, a kind node) opens a connection to the host itself (INPUT): an internal network
still reaches whatever listens on its bridge's host address, and the host's own services are not a
lab target. Replies to what the host opened (the harness's path to a kind API server, the engine's
own traffic) still come back. Each rule's comment names the run, so teardown and the reaper remove
exactly the rules that run added.
"""

from __future__ import annotations

import shutil
import subprocess

from lab.bookkeeping import IPTABLES_COMMENT_PREFIX
from lab.networks import LAB_RANGE


def _rules(run_id: str) -> list[tuple[str, list[str]]]:
    comment = ["-m", "comment", "--comment", f"{IPTABLES_COMMENT_PREFIX}{run_id}"]
    lab = str(LAB_RANGE)
    return [
        ("FORWARD", ["-s", lab, "!", "-d", lab, *comment, "-j", "DROP"]),
        ("FORWARD", ["-d", lab, "!", "-s", lab, *comment, "-j", "DROP"]),
        # A new connection from the lab to the host; what the host opened answers as ESTABLISHED.
        ("INPUT", ["-s", lab, "-m", "conntrack", "--ctstate", "NEW,INVALID", *comment, "-j", "DROP"]),
    ]


def install_guard(run_id: str) -> bool:
    """Insert the guard rules; returns False where iptables is absent (reported, not fatal)."""
    if shutil.which("iptables") is None:
        return False
    for chain, rule in _rules(run_id):
        subprocess.run(["iptables", "-I", chain, "1", *rule], check=True, capture_output=True, timeout=20)
    return True


def remove_guard(run_id: str) -> None:
    if shutil.which("iptables") is None:
        return
    for chain, rule in _rules(run_id):
        # Delete every copy: a rule inserted twice must not outlive its run.
        while subprocess.run(["iptables", "-D", chain, *rule], capture_output=True, timeout=20).returncode == 0:
            pass


def allow_within_bridge(run_id: str, bridge: str) -> bool:
    """Let traffic that enters and leaves one lab bridge pass Docker's internal-network isolation.

    A kind cluster's nodes share one internal network; pods on different nodes talk through it with
    pod addresses, which are not in that network's subnet, so Docker's isolation rules (which the
    host applies to bridged frames too) would drop them. In and out of the same lab bridge, the
    traffic never leaves that network. Returns False where iptables is absent."""
    if shutil.which("iptables") is None:
        return False
    comment = ["-m", "comment", "--comment", f"{IPTABLES_COMMENT_PREFIX}{run_id}"]
    subprocess.run(["iptables", "-I", "DOCKER-USER", "1", "-i", bridge, "-o", bridge, *comment, "-j", "ACCEPT"],
                   check=True, capture_output=True, timeout=20)
    return True


def remove_within_bridge(run_id: str) -> None:
    """Undo ``allow_within_bridge`` for this run (every copy; the reaper catches a killed run's)."""
    if shutil.which("iptables") is None:
        return
    dump = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True, timeout=20).stdout
    tag = f"{IPTABLES_COMMENT_PREFIX}{run_id}"
    for line in dump.splitlines():
        if line.startswith("-A DOCKER-USER ") and tag in line:
            rule = [token.strip('"') for token in line.split()[2:]]
            subprocess.run(["iptables", "-D", "DOCKER-USER", *rule], capture_output=True, timeout=20)
