"""Helpers the network analytics share: which events are outbound flows, and how a peer is named."""

from __future__ import annotations

from typing import Any

from detectors.alert import Alert
from detectors.event import Event
from detectors.identity import service_identity
from detectors.policies import Policy
from detectors.policy_kinds.egress import EgressPolicy

FLOW = "network.flow"
ALERT_FIELDS = ("container.name", "container.image.name", "source.ip", "destination.ip", "destination.port",
                "network.transport", "policy.baseline.service")
# What the flow analytics read of the policy's enrichment (detectors.routing): the egress verdicts,
# and the service identity their alerts show (ALERT_FIELDS).
NET_READS = ("policy.egress.", "policy.baseline.service")


def egress_policy(policy: Policy) -> EgressPolicy:
    return policy.section("egress") or EgressPolicy()


def is_flow(event: Event, *actions: str) -> bool:
    return event.get("event.dataset") == FLOW and bool(event.get("container.id")) and (
        not actions or event.get("event.action") in actions)


def leaves(event: Event) -> bool:
    """Traffic that leaves the inside: to an external address, or handed to a sanctioned proxy."""
    return event.get("policy.egress.destination_zone") == "external" or bool(event.get("policy.egress.via_proxy"))


def peer_key(event: Event) -> str:
    """A peer named so that it means the same thing in the next deployment: an internal container by
    its service identity, any other internal address by its network, anything outside as "external"
    (a defender has no CMDB of the internet), each with transport and port."""
    transport = event.get("network.transport", "?")
    port = event.get("destination.port", 0)
    zone = event.get("policy.egress.destination_zone", "unknown")
    if zone == "internal":
        if event.get("destination.container.id"):
            peer = event.get("policy.baseline.peer_service") or service_identity(event, "destination.container")
            return f"service:{peer}/{transport}/{port}"
        return f"internal:{event.get('destination.network.name') or event.get('destination.ip')}/{transport}/{port}"
    return f"{zone}/{transport}/{port}"


def make_alert(analytic: Any, event: Event, evidence: list[str], first_seen: float, *,
               container_id: str | None = None, **context: Any) -> Alert:
    """``container_id``: the container the alert concerns when it is not the event's own opener."""
    fields = {k: event[k] for k in ALERT_FIELDS if k in event}
    fields.update(context)
    return Alert(rule_id=analytic.rule_id, title=analytic.title, severity=analytic.severity,
                 techniques=analytic.techniques, object=f"container:{container_id or event['container.id']}",
                 evidence=tuple(evidence), first_seen=first_seen, response=analytic.response, source="analytic",
                 context=fields)
