"""Volume: a container sends more out of the inside, in a short window, than its budget allows.

Model. Every flow update carries the bytes its opener has sent so far; the analytic adds the
increase since the flow's previous report to a per-container sliding window of ``volume.window_s``
seconds (egress policy), counting only traffic that leaves the inside: to an external address, or
handed to a sanctioned proxy (the proxy forwards it, so it leaves all the same; the proxy's own
connections are not counted twice). The window's sum is compared with the container's budget:
``volume.budget_bytes`` by default, or the ``volume_budget_bytes`` of the sanctioned egress entry
that covers the flow (a declared backup job).

Bytes are IP bytes (headers included) as the bridge saw them, from the side that opened the flow.

Blind spots: a slow drip below the budget (no long-term accounting); data smuggled in replies to
connections the outside opened; bytes a sanctioned workload sends within its own large budget.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from typing import ClassVar

from detectors.alert import Alert
from detectors.analytics.base import About, AnalyticBase
from detectors.analytics.net_common import FLOW, NET_READS, egress_policy, is_flow, leaves, make_alert
from detectors.event import Event
from detectors.policies import Policy

_MIN_COMPACT = 4096

ABOUT = About(
    rule_id="stowaway.analytic.net-volume",
    title="Container sends an unusual volume of data out of the internal network",
    severity="high",
    techniques=("T1041", "T1048"),
    response=(
        "Find what was sent (the flow's destination, the process from tracefs-tcp), cut the container's outside "
        "access, and check what data it could read."),
    data_sources=("packets",),
)


class VolumeAnalytic(AnalyticBase, about=ABOUT):
    datasets: ClassVar[frozenset[str]] = frozenset({FLOW})  # observe tests it first
    reads: ClassVar[tuple[str, ...] | None] = NET_READS

    def __init__(self, policy: Policy) -> None:
        egress = egress_policy(policy)
        self.window_s = egress.volume_window_s
        self.default_budget = egress.volume_budget_bytes
        self._sent: dict[str, int] = {}  # flow id -> bytes already counted
        self._windows: dict[str, deque[tuple[float, int, str]]] = {}
        # (time, n, container, entry) of every entry added, oldest first: a window is forgotten when
        # its last entry is old, so a tick looks only at entries that came of age and forgets a
        # window whose last entry one of them still is. A NaN time is never old: it is not kept here.
        self._ages: list[tuple[float, int, str, tuple[float, int, str]]] = []
        self._added = itertools.count()
        self._compact_at = _MIN_COMPACT  # past this many, the entries that are no window's last are dropped

    def observe(self, event: Event) -> list[Alert]:
        if not is_flow(event) or not leaves(event) or event.get("policy.egress.source_proxy"):
            return []
        flow_id = event.get("flow.id", "")
        total = int(event.get("source.bytes") or 0)
        delta = total - self._sent.get(flow_id, 0)
        if event.get("event.action") == "end":
            self._sent.pop(flow_id, None)
        else:
            self._sent[flow_id] = total
        if delta <= 0:
            return []
        now = float(event.get("event.end") or event["event.created"])
        cid = event["container.id"]
        entry = (now, delta, event["event.id"])
        window = self._windows.setdefault(cid, deque())
        window.append(entry)
        if now == now:
            heapq.heappush(self._ages, (now, next(self._added), cid, entry))
        while window and now - window[0][0] > self.window_s:
            window.popleft()
        sent = sum(d for _, d, _ in window)
        budget = int(event.get("policy.egress.volume_budget_bytes") or self.default_budget)
        if sent <= budget:
            return []
        return [make_alert(self, event, [eid for _, _, eid in window], window[0][0], bytes_in_window=sent,
                           budget_bytes=budget, window_s=self.window_s)]

    def tick(self, now: float) -> list[Alert]:
        # Forget the windows whose last entry is older than ten windows (a NaN now forgets none).
        if len(self._ages) > self._compact_at:  # entries dated ahead of the clock age late
            self._ages = [(w[-1][0], next(self._added), cid, w[-1]) for cid, w in self._windows.items()
                          if w and w[-1][0] == w[-1][0]]
            heapq.heapify(self._ages)
            self._compact_at = max(_MIN_COMPACT, 2 * len(self._ages))
        ages, windows, limit = self._ages, self._windows, 10 * self.window_s
        while ages and now - ages[0][0] > limit:
            _, _, cid, entry = heapq.heappop(ages)
            window = windows.get(cid)
            if window and window[-1] is entry:
                del windows[cid]
        return []
