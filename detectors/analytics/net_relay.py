"""Relay: a container takes traffic in from the inside and passes the same bytes on to the outside.

Model. For each container the analytic remembers the flows other internal hosts opened *to* it
(``destination.container.id`` is the container, the opener is internal) and the flows it opened
itself to external addresses. An outbound flow is paired with an inbound flow that started at most
``PAIR_S`` seconds before it; the pair is a relay when both have carried at least ``MIN_BYTES`` from
their opener and the two byte counts agree within ``RATIO`` (what came in went out). Connection
timing alone would flag every web service that calls an outside API while serving a request; the
byte match is what makes it forwarding. Sanctioned proxies (egress policy) are exempt.

Blind spots: relays that compress, encrypt or pad (the byte counts no longer agree); relays that
buffer and send later than ``PAIR_S``; relays that only carry the replies (outside -> inside);
chains through a sanctioned proxy.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import ClassVar

from detectors.alert import Alert
from detectors.analytics.base import About, AnalyticBase
from detectors.analytics.net_common import FLOW, NET_READS, make_alert
from detectors.event import Event
from detectors.policies import Policy

_INBOUND, _OUTBOUND = 0, 1  # the two tables a leg is kept in
_MIN_COMPACT = 4096
PAIR_S = 3.0
MIN_BYTES = 4096
RATIO = 1.3
KEEP_S = 60.0


@dataclass(slots=True)
class _Leg:
    flow_id: str
    start: float
    bytes: int
    event_id: str
    peer: str


ABOUT = About(
    rule_id="stowaway.analytic.net-relay",
    title="Container relays internal traffic to an outside endpoint",
    severity="high",
    techniques=("T1090", "T1090.001", "T1090.002"),
    response=(
        "Find which internal client sends through it (the inbound legs in the evidence), stop the relay process, "
        "and check what that client sent."),
    data_sources=("packets",),
)


class RelayAnalytic(AnalyticBase, about=ABOUT):
    datasets: ClassVar[frozenset[str]] = frozenset({FLOW})  # observe tests it first
    reads: ClassVar[tuple[str, ...] | None] = NET_READS

    def __init__(self, policy: Policy) -> None:
        self._inbound: dict[str, dict[str, _Leg]] = {}
        self._outbound: dict[str, dict[str, _Leg]] = {}
        # At most the start of the oldest leg held (-inf: unknown, or a leg without a usable start):
        # a tick can only drop a leg older than KEEP_S, so while this one is younger there is none.
        self._oldest = float("inf")
        # (start, n, side, container, flow id) of every leg stored, oldest first, so a tick drops the
        # legs that came of age without walking the others. An update that keeps its flow's start
        # adds none: the walk drops a leg by its start, and so does an entry whose start the leg held
        # under its flow id still has (any other entry is stale and skipped). A NaN start cannot be
        # ordered: it sends the tick on the walk.
        self._ages: list[tuple[float, int, int, str, str]] = []
        self._stored = itertools.count()
        self._unordered = False
        self._compact_at = _MIN_COMPACT  # past this many entries, stale ones are dropped (a flow's updates)

    def observe(self, event: Event) -> list[Alert]:
        if event.get("event.dataset") != FLOW:
            return []
        flow_id = event.get("flow.id", "")
        start = float(event.get("event.start") or event["event.created"])
        sent = int(event.get("source.bytes") or 0)
        target = event.get("destination.container.id")
        zone = event.get("policy.egress.destination_zone")
        if not start >= self._oldest:  # older, or NaN (never kept past a tick: always look)
            self._oldest = start if start == start else float("-inf")
        # Both legs are judged on every update of either: the two legs are captured on different
        # bridges by different threads, so either one's final byte count may arrive last.
        if target and zone == "internal" and not event.get("policy.egress.via_proxy"):
            self._keep(_INBOUND, target, _Leg(flow_id, start, sent, event["event.id"], str(event.get("source.ip", ""))))
            return self._pairs(target, event)
        cid = event.get("container.id")
        if not cid or zone != "external" or event.get("policy.egress.source_proxy"):
            return []
        self._keep(_OUTBOUND, cid, _Leg(flow_id, start, sent, event["event.id"], str(event.get("destination.ip", ""))))
        return self._pairs(cid, event)

    def _keep(self, side: int, cid: str, leg: _Leg) -> None:
        table = self._inbound if side == _INBOUND else self._outbound
        legs = table.get(cid)
        if legs is None:
            legs = table[cid] = {}
        before = legs.get(leg.flow_id)
        legs[leg.flow_id] = leg
        if before is not None and before.start == leg.start:
            return  # its entry already ages it
        if leg.start == leg.start:
            heapq.heappush(self._ages, (leg.start, next(self._stored), side, cid, leg.flow_id))
        else:
            self._unordered = True

    def _pairs(self, cid: str, event: Event) -> list[Alert]:
        for leg in self._outbound.get(cid, {}).values():
            for inbound in self._inbound.get(cid, {}).values():
                if not 0 <= leg.start - inbound.start <= PAIR_S:
                    continue
                if min(leg.bytes, inbound.bytes) < MIN_BYTES:
                    continue
                if max(leg.bytes, inbound.bytes) / min(leg.bytes, inbound.bytes) > RATIO:
                    continue
                return [make_alert(self, event, [inbound.event_id, leg.event_id], inbound.start, container_id=cid,
                                   inbound_from=inbound.peer, inbound_bytes=inbound.bytes,
                                   outbound_bytes=leg.bytes, outbound_to=leg.peer)]
        return []

    def tick(self, now: float) -> list[Alert]:
        if len(self._ages) > self._compact_at:  # updates of long flows left entries that age late
            self._reage()
        if now - self._oldest <= KEEP_S:  # no leg is old enough to drop (a NaN now drops them all)
            return []
        if now != now or self._unordered:
            self._walk(now)
            return []
        # The legs older than KEEP_S, oldest first: exactly those the walk would drop.
        ages = self._ages
        while ages and now - ages[0][0] > KEEP_S:
            start, _, side, cid, flow_id = heapq.heappop(ages)
            table = self._inbound if side == _INBOUND else self._outbound
            legs = table.get(cid)
            if legs is None:
                continue
            leg = legs.get(flow_id)
            if leg is not None and leg.start == start:
                del legs[flow_id]
                if not legs:
                    del table[cid]
        self._oldest = ages[0][0] if ages else float("inf")
        return []

    def _walk(self, now: float) -> None:
        """Drop every leg older than KEEP_S by looking at each (NaN starts and a NaN now included)."""
        oldest = float("inf")
        for table in (self._inbound, self._outbound):
            for cid in list(table):
                table[cid] = {k: v for k, v in table[cid].items() if now - v.start <= KEEP_S}
                if not table[cid]:
                    del table[cid]
                for leg in table.get(cid, {}).values():
                    if not leg.start >= oldest:
                        oldest = leg.start
        self._oldest = oldest
        self._reage()  # what is left has ordered starts: a NaN start or a NaN now dropped its leg

    def _reage(self) -> None:
        """The age heap afresh, one entry per leg held."""
        self._ages = [(leg.start, next(self._stored), side, cid, leg.flow_id)
                      for side, table in ((_INBOUND, self._inbound), (_OUTBOUND, self._outbound))
                      for cid, legs in table.items() for leg in legs.values() if leg.start == leg.start]
        heapq.heapify(self._ages)
        self._unordered = len(self._ages) < sum(len(legs) for legs in self._inbound.values()) + \
            sum(len(legs) for legs in self._outbound.values())
        self._compact_at = max(_MIN_COMPACT, 2 * len(self._ages))
