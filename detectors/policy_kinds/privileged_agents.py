"""Policy kind ``privileged_agents``: infrastructure agents allowed to run with privileges.

A sanction names the agent by provenance (its signed image, run as built) *and* bounds what it may
do (``allow``): the privileges, capabilities and host mounts it may have. The genuine agent image
started with more than that is not sanctioned, nor is its look-alike with exactly that.

Enrichment: ``policy.privilege.sanctioned`` and the sanction's name.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import ClassVar

from detectors.event import Event
from detectors.policies import record, register_policy_kind
from detectors.sanction import Provenanced, ProvenanceKind
from detectors.schema import Entry, setting


def capability(name: str) -> str:
    """A capability as the kernel names it, without the CAP_ prefix people write or leave out."""
    return name.upper().removeprefix("CAP_")


@dataclass(frozen=True, slots=True)
class PrivilegeAllowance:
    privileged: bool = setting(False, doc="may run --privileged")
    host_pid: bool = setting(False, doc="may share the host's PID namespace")
    host_network: bool = setting(False, doc="may share the host's network namespace")
    capabilities: tuple[str, ...] = setting((), doc="capabilities it may add (with or without CAP_)")
    host_mounts: tuple[str, ...] = setting((), doc="globs of host paths it may mount")
    host_mounts_read_only: bool = setting(True, doc="those mounts must be read-only")
    # The capabilities as the kernel names them, once: ``covers`` is asked on most engine events.
    _allowed: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_allowed", frozenset(capability(c) for c in self.capabilities))

    def covers(self, event: Event) -> bool:
        if event.get("container.privileged") and not self.privileged:
            return False
        if event.get("container.pid_mode") == "host" and not self.host_pid:
            return False
        if event.get("container.network_mode") == "host" and not self.host_network:
            return False
        allowed = self._allowed
        for added in event.get("container.cap_add") or []:  # a loop, not any(genexpr): the same, cheaper
            if capability(added) not in allowed:
                return False
        sources = [s for s in event.get("container.mounts.sources") or [] if s.startswith("/")]
        if any(not any(fnmatch.fnmatchcase(s, g) for g in self.host_mounts) for s in sources):
            return False
        writable = [s for s in event.get("container.mounts.writable_sources") or [] if s.startswith("/")]
        return not (self.host_mounts_read_only and writable)


@dataclass(frozen=True, slots=True)
class AgentSanction(Entry):
    match: Provenanced = setting(doc="the agent, by provenance")
    allow: PrivilegeAllowance = setting(doc="exactly the privileges it may have")


@register_policy_kind
@dataclass(slots=True)
class PrivilegedAgentsPolicy(ProvenanceKind):
    kind: ClassVar[str] = "privileged_agents"
    writes: ClassVar[tuple[str, ...] | None] = ("policy.privilege.",)
    sanction_lists: ClassVar[tuple[str, ...]] = ("sanctioned_privileged_agents",)
    requires_field: ClassVar[str] = "container.privileged"  # enrich tests it first (detectors.routing)
    sanctioned: tuple[AgentSanction, ...] = setting((), key="sanctioned_privileged_agents",
                                                    doc="agents that may run with privileges")

    def enrich(self, event: Event) -> None:
        if "container.privileged" not in event:
            return
        hit = next((s for s in self.sanctioned if s.allow.covers(event) and s.match.matches(event, self.platform)),
                   None)
        record(event, "policy.privilege.sanctioned", "policy.privilege.sanction", hit)
