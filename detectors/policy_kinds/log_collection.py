"""Policy kind ``log_collection``: where the platform collects containers' output from.

The platform's shipper reads the node's local log drivers; a remote destination is collected only
when the platform owns it. A container started with a driver that ships its output anywhere else
(syslog, GELF, fluentd, Splunk to an address someone chose, or a plugin driver) keeps nothing the
platform sees: its log is diverted, as good as discarded. Judged on the driver and the destination
the engine really uses, both of which an adversary chooses, so nothing here trusts what they say
about themselves. Enrichment: ``policy.logging.collected`` and ``policy.logging.destination``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from detectors.event import Event
from detectors.policies import PolicyKind, register_policy_kind
from detectors.schema import Entry, setting

# The option that names where each shipping driver sends (moby's built-in drivers).
DESTINATION_OPTIONS = {
    "syslog": "syslog-address", "gelf": "gelf-address", "fluentd": "fluentd-address", "splunk": "splunk-url",
    "logentries": "logentries-token", "awslogs": "awslogs-group", "gcplogs": "gcp-project",
}


def _driver(value: str) -> str | None:
    return None if value and value == value.strip() and " " not in value else "a log driver name"


@dataclass(frozen=True, slots=True)
class Collector(Entry):
    driver: str = setting(doc="the shipping driver (syslog, gelf, fluentd, splunk, ...)", check=_driver)
    address: str = setting(doc="its destination as the driver's address option spells it (udp://198.19.0.9:514)")


@register_policy_kind
@dataclass(slots=True)
class LogCollectionPolicy(PolicyKind):
    kind: ClassVar[str] = "log_collection"
    writes: ClassVar[tuple[str, ...] | None] = ("policy.logging.destination", "policy.logging.collected")
    sanction_lists: ClassVar[tuple[str, ...]] = ("collectors",)
    requires_field: ClassVar[str] = "container.logging.driver"  # enrich tests it first (detectors.routing)
    local_drivers: tuple[str, ...] = setting((), required=True, each=_driver,
                                             doc="drivers that keep the output on the node, where the shipper reads it")
    collectors: tuple[Collector, ...] = setting((), doc="remote destinations the platform owns")
    owner: str = setting("", required=True, doc="the team that answers for log collection")
    description: str = setting("", required=True, doc="how the platform collects containers' output")

    def enrich(self, event: Event) -> None:
        driver = str(event.get("container.logging.driver") or "")
        if not driver or driver == "none":
            return  # no driver read, or none at all: logging-disabled judges that on the driver itself
        option = DESTINATION_OPTIONS.get(driver, "")
        destination = str(event.get(f"container.logging.options.{option}") or "") if option else ""
        if destination:
            event["policy.logging.destination"] = destination
        owned = any(c.driver == driver and c.address == destination for c in self.collectors)
        event["policy.logging.collected"] = driver in self.local_drivers or owned
