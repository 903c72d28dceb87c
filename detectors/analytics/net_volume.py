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

from collections import deque
from typing import ClassVar

from detectors.alert import Alert
from detectors.analytics.base import About, AnalyticBase
from detectors.analytics.net_common import FLOW, egress_policy, is_flow, leaves, make_alert
from detectors.event import Event
from detectors.policies import Policy

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

    def __init__(self, policy: Policy) -> None:
        egress = egress_policy(policy)
        self.window_s = egress.volume_window_s
        self.default_budget = egress.volume_budget_bytes
        self._sent: dict[str, int] = {}  # flow id -> bytes already counted
        self._windows: dict[str, deque[tuple[float, int, str]]] = {}

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
        window = self._windows.setdefault(event["container.id"], deque())
        window.append((now, delta, event["event.id"]))
        while window and now - window[0][0] > self.window_s:
            window.popleft()
        sent = sum(d for _, d, _ in window)
        budget = int(event.get("policy.egress.volume_budget_bytes") or self.default_budget)
        if sent <= budget:
            return []
        return [make_alert(self, event, [eid for _, _, eid in window], window[0][0], bytes_in_window=sent,
                           budget_bytes=budget, window_s=self.window_s)]

    def tick(self, now: float) -> list[Alert]:
        for cid in [c for c, w in self._windows.items() if not w or now - w[-1][0] > 10 * self.window_s]:
            del self._windows[cid]
        return []
