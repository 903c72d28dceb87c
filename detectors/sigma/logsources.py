"""Where a Sigma logsource's events are: the one mapping both evaluators read.

A rule's ``logsource`` names a kind of telemetry; Stowaway's events say what they are in
``event.module``, ``event.dataset`` and ``event.category``. ``resolve`` turns the one into tests on
the other, and the local engine (``detectors.sigma``) and the pySigma pipeline shipped as
``sigma.pipelines.stowaway`` both call it, so a rule selects the same events in the lab and in a
SIEM. docs/sigma.md shows the table.

``SOURCES`` lists every logsource the shipped rules use and the SigmaHQ taxonomy logsources that
have an equivalent here. SigmaHQ rules also name fields their own way (``Image``, ``CommandLine``);
those rows rename the fields they can honestly supply and refuse the others, so a rule never loads
and then quietly matches nothing. Any other logsource is read by the generic rule: ``product`` is
``event.module``, ``service`` is ``event.dataset`` ``<product>.<service>``, ``category`` is
``event.category``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class LogSource:
    """A rule's ``logsource`` as written."""

    product: str | None = None
    service: str | None = None
    category: str | None = None

    @property
    def dataset(self) -> str | None:
        """The ``event.dataset`` the generic rule reads this logsource as, or None without a service."""
        return f"{self.product}.{self.service}" if self.product and self.service else None


def _frozen(mapping: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class EventSource:
    """The events a logsource means, and how its rules' field names read on them."""

    module: str | None  # event.module; None: any
    dataset: str | None = None  # event.dataset; None: any dataset of the module
    # Further tests, each "the field equals one of these values" (Sigma equality: case-insensitive,
    # any element of a list); a SigmaHQ category is usually one action of a dataset.
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fields: Mapping[str, str] = field(default_factory=_frozen)  # a rule's field name -> the event's
    # A SigmaHQ taxonomy row: a field name without a dot that ``fields`` does not rename is SigmaHQ's
    # and has no equivalent in the events, so a rule naming it is refused (dotted names pass as written).
    taxonomy: bool = False
    note: str = ""  # what a reader of docs/sigma.md needs to know about the row

    def conditions(self) -> dict[str, str | list[str]]:
        """Every test as a Sigma detection item: ``{"event.module": "linux", "event.action": ["exec"]}``."""
        found: dict[str, str | list[str]] = {}
        if self.module is not None:
            found["event.module"] = self.module
        if self.dataset is not None:
            found["event.dataset"] = self.dataset
        for name, values in self.where:
            found[name] = values[0] if len(values) == 1 else list(values)
        return found

    def unsupported(self, name: str) -> bool:
        """True if a rule of this source may not name ``name`` (after renaming)."""
        return self.taxonomy and "." not in name and name not in self.fields


_PROCESS_CREATION = EventSource(
    "linux", "linux.process", where=(("event.action", ("exec",)),),
    fields=_frozen({"Image": "process.executable", "CommandLine": "process.command_line",
                    "ParentImage": "process.parent.executable"}),
    taxonomy=True,
    note="A program started (tracefs sched_process_exec); paths as the process's own mount namespace sees them.",
)
_NETWORK_CONNECTION = EventSource(
    "tracefs", "tracefs.tcp", where=(("event.action", ("connection_attempted", "connection_accepted")),),
    fields=_frozen({"Image": "process.executable", "CommandLine": "process.command_line",
                    "DestinationIp": "destination.ip", "DestinationPort": "destination.port"}),
    taxonomy=True,
    note="A TCP connection a container's process opens (attempted) or accepts. `Initiated` has no rename: the "
         "direction is `network.direction` (egress, ingress). Image and CommandLine exist on attempted ones only.",
)
_FILE_EVENT = EventSource(
    "linux", "linux.fim", where=(("event.action", ("created", "modified")),),
    fields=_frozen({"TargetFilename": "file.path_in_container"}),
    taxonomy=True,
    note="A watched file created or written (inotify). TargetFilename is the path inside the container; "
         "host paths outside any container carry only `file.path` and are not reached through it.",
)
_KUBERNETES_AUDIT = EventSource(
    "kubernetes", "kubernetes.audit",
    note="The API server's audit log; the sensor keeps SigmaHQ's field names (verb, objectRef.*, user.username, "
         "hostPath, capabilities).",
)

SOURCES: Mapping[LogSource, EventSource] = MappingProxyType({
    # The shipped rules' own logsources.
    LogSource("docker", "events"): EventSource("docker", "docker.events", note="Engine events with inspect data"),
    LogSource("docker", "container_logs"): EventSource(
        "docker", "docker.container_logs", note="The engine's log files of containers"),
    LogSource("docker", "engine_config"): EventSource(
        "docker", "docker.engine_config", note="The engine's daemon.json"),
    LogSource("swarm", "services"): EventSource("swarm", "swarm.services", note="Swarm service specs"),
    LogSource("swarm", "nodes"): EventSource("swarm", "swarm.nodes", note="Swarm nodes and their labels"),
    LogSource("linux", "process", "process"): EventSource(
        "linux", "linux.process", where=(("event.category", ("process",)),),
        note="Process starts and later findings about a process (deleted executable)"),
    LogSource("linux", "process_io"): EventSource(
        "linux", "linux.process_io", note="Where a container's output holder sends stdout and stderr"),
    LogSource("linux", "fim", "file_change"): EventSource(
        "linux", "linux.fim", where=(("event.category", ("file_change",)),), note="File integrity (inotify, hashes)"),
    LogSource("tracefs", "tcp"): EventSource("tracefs", "tracefs.tcp", note="TCP state changes with the process"),
    LogSource("network", "flow"): EventSource("network", "network.flow", note="Flows seen on the lab bridges"),
    LogSource("network"): EventSource("network", note="Flows and DNS seen on the lab bridges"),
    LogSource("netns", "nat"): EventSource("netns", "netns.nat", note="NAT rules inside containers' namespaces"),
    LogSource("kubernetes", "audit"): _KUBERNETES_AUDIT,
    LogSource("stowaway", "node_agent"): EventSource(
        "stowaway", "stowaway.node_agent", note="What the harness's reader says of each node agent: silent, resumed"),
    # SigmaHQ's taxonomy, where the events have an equivalent. Its kubernetes rules say
    # `category: application`, a folder of SigmaHQ's, not something the events carry.
    LogSource("kubernetes", "audit", "application"): _KUBERNETES_AUDIT,
    LogSource("linux", None, "process_creation"): _PROCESS_CREATION,
    LogSource(None, None, "process_creation"): _PROCESS_CREATION,
    LogSource("linux", None, "network_connection"): _NETWORK_CONNECTION,
    LogSource(None, None, "network_connection"): _NETWORK_CONNECTION,
    LogSource("linux", None, "file_event"): _FILE_EVENT,
    LogSource(None, None, "file_event"): _FILE_EVENT,
})


def resolve(logsource: LogSource) -> EventSource:
    """The events ``logsource`` means: its row in SOURCES, else the generic rule."""
    known = SOURCES.get(logsource)
    if known is not None:
        return known
    where = (("event.category", (logsource.category,)),) if logsource.category else ()
    return EventSource(logsource.product, logsource.dataset, where=where)
