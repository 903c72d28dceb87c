"""Beaconing: a container that opens connections to the same outside endpoint at a regular interval.

Model. For each (container, destination address, port, transport) the analytic keeps the start
times of the last ``MAX_SERIES`` connections leaving the inside (to an external address, not from a
sanctioned proxy, not a sanctioned egress). With at least ``MIN_CONNECTIONS`` of them it looks at
the gaps between starts:

- the period is the median gap (robust to a missed beat or a retry);
- the jitter is the median absolute deviation of the gaps divided by the period (robust to
  outliers, unlike the coefficient of variation);
- it is a beacon when the jitter is at most ``MAX_JITTER`` and at least ``MIN_REGULAR`` of the gaps lie
  within ``TOLERANCE`` of the period, with a period between ``MIN_PERIOD_S`` and ``MAX_PERIOD_S``.

A sleep with uniform jitter of +-30 % gives a MAD ratio of about 0.15; a human or a batch of
requests gives gaps spread over orders of magnitude (exponential gaps give about 0.5-0.7).

Blind spots: beacons slower than ``MAX_PERIOD_S`` or with fewer than ``MIN_CONNECTIONS`` call-backs in
the series; jitter beyond about +-60 %; beacons that rotate destination address or port each time;
beacons through the sanctioned proxy (the proxy's connections are sanctioned, and the client's go
to an internal address); C2 over one long-lived connection (no new connections to time).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from detectors.alert import Alert
from detectors.analytics.base import About, AnalyticBase
from detectors.analytics.net_common import FLOW, NET_READS, is_flow, make_alert
from detectors.event import Event
from detectors.policies import Policy

MIN_CONNECTIONS = 5
MAX_SERIES = 24
MIN_PERIOD_S = 0.5
MAX_PERIOD_S = 3600.0
MAX_JITTER = 0.3
TOLERANCE = 0.5
MIN_REGULAR = 0.75


@dataclass(frozen=True, slots=True)
class Periodicity:
    period_s: float
    jitter: float  # MAD of the gaps / median gap
    regular: float  # share of gaps within TOLERANCE of the period
    connections: int

    @property
    def is_beacon(self) -> bool:
        return (MIN_PERIOD_S <= self.period_s <= MAX_PERIOD_S and self.jitter <= MAX_JITTER
                and self.regular >= MIN_REGULAR)


def periodicity(starts: Sequence[float]) -> Periodicity | None:
    """Score a series of connection start times; None when there are too few to say."""
    times = sorted(starts)
    if len(times) < MIN_CONNECTIONS:
        return None
    gaps = [b - a for a, b in itertools.pairwise(times)]
    period = statistics.median(gaps)
    if period <= 0:
        return Periodicity(period_s=0.0, jitter=float("inf"), regular=0.0, connections=len(times))
    mad = statistics.median(abs(g - period) for g in gaps)
    regular = sum(1 for g in gaps if abs(g - period) <= TOLERANCE * period) / len(gaps)
    return Periodicity(period_s=period, jitter=mad / period, regular=regular, connections=len(times))


ABOUT = About(
    rule_id="stowaway.analytic.net-beacon",
    title="Container calls an outside endpoint at a regular interval (beaconing)",
    severity="high",
    techniques=("T1071", "T1071.001"),
    response=(
        "Identify the process making the calls (tracefs-tcp events for the same container and destination), "
        "capture one exchange, and isolate the container from the outside network while you look."),
    data_sources=("packets",),
)


class _Series:
    """One (container, destination, port, transport)'s last MAX_SERIES call times and their events.

    Two plain lists rather than a deque of pairs: a fleet holds thousands of series for two hours,
    and a pair per call plus a deque's block per series was most of a long replay's memory growth.
    """

    __slots__ = ("ids", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.ids: list[str] = []

    def add(self, when: float, event_id: str) -> None:
        self.times.append(when)
        self.ids.append(event_id)
        if len(self.times) > MAX_SERIES:
            del self.times[0], self.ids[0]


class BeaconAnalytic(AnalyticBase, about=ABOUT):
    datasets: ClassVar[frozenset[str]] = frozenset({FLOW})  # observe tests it first
    reads: ClassVar[tuple[str, ...] | None] = NET_READS

    def __init__(self, policy: Policy) -> None:
        self._series: dict[tuple[str, str, int, str], _Series] = {}
        # At most the last call time of every series (NaN ones aside: they are never forgotten), so a
        # tick can tell without a scan that no series is old enough to forget.
        self._oldest_last = float("inf")

    def observe(self, event: Event) -> list[Alert]:
        if not is_flow(event, "start") or event.get("policy.egress.destination_zone") != "external":
            return []
        if event.get("policy.egress.sanctioned"):
            return []
        key = (event["container.id"], event.get("destination.ip", ""), int(event.get("destination.port", 0)),
               event.get("network.transport", ""))
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        when = float(event.get("event.start") or event["event.created"])
        series.add(when, event["event.id"])
        if when < self._oldest_last:
            self._oldest_last = when
        score = periodicity(series.times)
        if score is None or not score.is_beacon:
            return []
        return [make_alert(self, event, series.ids, series.times[0],
                           period_s=round(score.period_s, 3), jitter=round(score.jitter, 3),
                           regular=round(score.regular, 3), connections=score.connections)]

    def tick(self, now: float) -> list[Alert]:
        # Forget series whose last call is older than the longest period we look for.
        if not now - self._oldest_last > 2 * MAX_PERIOD_S:
            return []
        for key in [k for k, s in self._series.items() if s.times and now - s.times[-1] > 2 * MAX_PERIOD_S]:
            del self._series[key]
        lasts = [s.times[-1] for s in self._series.values() if s.times]
        self._oldest_last = min((last for last in lasts if last == last), default=float("inf"))
        return []
