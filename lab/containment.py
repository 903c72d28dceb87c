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


def _comment(run_id: str) -> list[str]:
    return ["-m", "comment", "--comment", f"{IPTABLES_COMMENT_PREFIX}{run_id}"]


def _rules(run_id: str) -> list[tuple[str, list[str]]]:
    lab = str(LAB_RANGE)
    return [
        ("FORWARD", ["-s", lab, "!", "-d", lab, *_comment(run_id), "-j", "DROP"]),
        ("FORWARD", ["-d", lab, "!", "-s", lab, *_comment(run_id), "-j", "DROP"]),
        # A new connection from the lab to the host; what the host opened answers as ESTABLISHED.
        ("INPUT", ["-s", lab, "-m", "conntrack", "--ctstate", "NEW,INVALID", *_comment(run_id), "-j", "DROP"]),
    ]


def _bridge_rules(run_id: str, bridge: str) -> list[tuple[str, list[str]]]:
    return [("DOCKER-USER", ["-i", bridge, "-o", bridge, *_comment(run_id), "-j", "ACCEPT"])]


def _insert(rules: list[tuple[str, list[str]]]) -> bool:
    """Insert the rules at the top of their chains; False where iptables is absent (reported, not fatal)."""
    if shutil.which("iptables") is None:
        return False
    for chain, rule in rules:
        subprocess.run(["iptables", "-I", chain, "1", *rule], check=True, capture_output=True, timeout=20)
    return True


def _delete(rules: list[tuple[str, list[str]]]) -> None:
    if shutil.which("iptables") is None:
        return
    for chain, rule in rules:
        # Delete every copy: a rule inserted twice must not outlive its run.
        while subprocess.run(["iptables", "-D", chain, *rule], capture_output=True, timeout=20).returncode == 0:
            pass


def install_guard(run_id: str) -> bool:
    """Insert the guard rules; returns False where iptables is absent (reported, not fatal)."""
    return _insert(_rules(run_id))


def remove_guard(run_id: str) -> None:
    _delete(_rules(run_id))


def allow_within_bridge(run_id: str, bridge: str) -> bool:
    """Let traffic that enters and leaves one lab bridge pass Docker's internal-network isolation.

    A kind cluster's nodes share one internal network; pods on different nodes talk through it with
    pod addresses, which are not in that network's subnet, so Docker's isolation rules (which the
    host applies to bridged frames too) would drop them. In and out of the same lab bridge, the
    traffic never leaves that network. Returns False where iptables is absent."""
    return _insert(_bridge_rules(run_id, bridge))


def remove_within_bridge(run_id: str, bridge: str) -> None:
    """Undo ``allow_within_bridge`` (the reaper catches a killed run's: the comment names the run)."""
    _delete(_bridge_rules(run_id, bridge))
