"""Analytics' fast paths decide exactly what the plain reading of their model decides.

``ContainerLogDeleted`` and ``VolumeAnalytic`` keep a lower bound of the times they hold, so a tick
(once a second of event time) walks their maps only when something may have come due; ``RelayAnalytic``
keeps its legs in a heap by age and drops only those that came of age. Each is run
here beside a copy whose tick walks every time, as the analytics did before, on seeded random
streams with events out of order, repeated containers, NaN and infinite times: the alerts and the
state left after every tick must be the same.

The resource spikes keep, per container, only the samples above the ceiling among the last WINDOW;
they are compared with a plain window of every sample on random sample streams.
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import Any

import pytest

from detectors.alert import Alert
from detectors.analytics.container_logs import GRACE_S, ContainerLogDeleted
from detectors.analytics.net_relay import KEEP_S, RelayAnalytic
from detectors.analytics.net_volume import VolumeAnalytic
from detectors.analytics.resource_baseline import SUSTAIN, WINDOW, CpuSpike, MemorySpike
from detectors.event import new_event
from detectors.policies import load_policy

POLICY = load_policy()


class PlainLogDeleted(ContainerLogDeleted):
    def tick(self, now: float) -> list[Alert]:
        alerts = []
        for cid, event in list(self._pending.items()):
            if now - float(event["event.created"]) < GRACE_S:
                continue
            del self._pending[cid]
            if cid in self._ended:
                continue
            alerts.append(Alert(
                rule_id=self.rule_id, title=self.title, severity=self.severity, techniques=self.techniques,
                object=f"container:{cid}", evidence=(event["event.id"],), first_seen=event["event.created"],
                response=self.response, source="analytic",
                context={"file.path": event.get("file.path"), "file.previous.size": event.get("file.previous.size")}))
        for cid, at in list(self._ended.items()):
            if now - at > 600:
                del self._ended[cid]
        return alerts


class PlainVolume(VolumeAnalytic):
    def tick(self, now: float) -> list[Alert]:
        for cid in [c for c, w in self._windows.items() if not w or now - w[-1][0] > 10 * self.window_s]:
            del self._windows[cid]
        return []


class PlainRelay(RelayAnalytic):
    def tick(self, now: float) -> list[Alert]:
        for table in (self._inbound, self._outbound):
            for cid in list(table):
                table[cid] = {k: v for k, v in table[cid].items() if now - v.start <= KEEP_S}
                if not table[cid]:
                    del table[cid]
        return []


def odd_time(rng: random.Random, now: float) -> float:
    roll = rng.random()
    if roll < 0.02:
        return math.nan
    if roll < 0.03:
        return math.inf if rng.random() < 0.5 else -math.inf
    return now + rng.uniform(-900.0, 5.0)  # mostly now, sometimes far back (out of order)


def key(alert: Alert) -> tuple[Any, ...]:
    return (alert.rule_id, alert.object, alert.evidence, str(alert.first_seen), str(alert.context))


def log_events(rng: random.Random, now: float, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        cid = f"c{rng.randrange(12)}"
        created = odd_time(rng, now)
        if rng.random() < 0.3:
            out.append(new_event("docker", "docker.events", rng.choice(["die", "destroy", "start"]), created,
                                 container__id=cid, event__type="container"))
        else:
            out.append(new_event("docker", "docker.container_logs", rng.choice(["deleted", "rotated"]), created,
                                 container__id=cid, file__path=f"/log/{cid}-{i}"))
    return out


def flow_events(rng: random.Random, now: float, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        cid = f"c{rng.randrange(12)}"
        out.append(new_event("network", "network.flow", rng.choice(["start", "update", "end"]), None,
                             container__id=cid, flow__id=f"f{rng.randrange(30)}",
                             source__bytes=rng.randrange(0, 4_000_000), event__end=odd_time(rng, now),
                             **{"policy.egress.destination_zone": rng.choice(["external", "internal"])}))
    return out


def relay_start(rng: random.Random, now: float) -> float:
    """Mostly the start a flow keeps across its updates (the start of its 90 s period, so updates go
    on after its leg came of age), sometimes a fresh one, sometimes an odd one."""
    roll = rng.random()
    if roll < 0.6:
        return now - now % 90.0
    return odd_time(rng, now) if roll < 0.8 else now - rng.uniform(0, 2)


def relay_events(rng: random.Random, now: float, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        cid = f"c{rng.randrange(5)}"
        inbound = rng.random() < 0.5
        out.append(new_event("network", "network.flow", "update", now, container__id=f"x{rng.randrange(5)}" if inbound
                             else cid, flow__id=f"f{rng.randrange(40)}", source__bytes=rng.choice([5000, 6000, 100]),
                             event__start=relay_start(rng, now),
                             destination__container__id=cid if inbound else None, source__ip="198.18.0.9",
                             destination__ip="198.19.0.10",
                             **{"policy.egress.destination_zone": "internal" if inbound else "external"}))
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("fast", "plain", "events"), [
    (ContainerLogDeleted, PlainLogDeleted, log_events), (VolumeAnalytic, PlainVolume, flow_events),
    (RelayAnalytic, PlainRelay, relay_events)])
def test_a_skipped_walk_changes_nothing(seed: int, fast: Any, plain: Any, events: Any) -> None:
    rng = random.Random(seed)
    ours, theirs = fast(POLICY), plain(POLICY)
    now = 1_790_000_000.0
    for second in range(2400):
        now += 1.0 if rng.random() < 0.97 else rng.choice([120.0, 700.0, -30.0])
        for event in events(rng, now, rng.randrange(0, 4)):
            assert [key(a) for a in ours.observe(dict(event))] == [key(a) for a in theirs.observe(dict(event))]
        moment = math.nan if rng.random() < 0.005 else now
        assert [key(a) for a in ours.tick(moment)] == [key(a) for a in theirs.tick(moment)], second
        if isinstance(ours, ContainerLogDeleted):
            assert ours._pending.keys() == theirs._pending.keys() and ours._ended.keys() == theirs._ended.keys()
        elif isinstance(ours, RelayAnalytic):
            for mine, plain in ((ours._inbound, theirs._inbound), (ours._outbound, theirs._outbound)):
                assert {c: list(legs.items()) for c, legs in mine.items()} == \
                    {c: list(legs.items()) for c, legs in plain.items()}
        else:
            assert {c for c, w in ours._windows.items() if w} == {c for c, w in theirs._windows.items() if w}
            assert all(list(ours._windows[c]) == list(w) for c, w in theirs._windows.items())


def plain_window(samples: list[tuple[str, str, float, bool]]) -> list[tuple[tuple[str, ...], float]]:
    """(evidence, first_seen) of each alert a plain window of every sample raises, per container."""
    windows: dict[str, deque[tuple[bool, str, float]]] = {}
    raised = []
    for cid, sample, created, exceeds in samples:
        window = windows.setdefault(cid, deque(maxlen=WINDOW))
        window.append((exceeds, sample, created))
        above = [item for item in window if item[0]]
        if exceeds and len(above) >= SUSTAIN:
            raised.append((tuple(e for _, e, _ in above), above[0][2]))
            window.clear()
    return raised


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("spike", [CpuSpike, MemorySpike])
def test_the_spike_window_keeps_what_a_window_of_every_sample_keeps(seed: int, spike: Any) -> None:
    rng = random.Random(seed)
    analytic = spike(POLICY, baselines={})
    field, high, low = (("container.cpu.cores", 0.9, 0.1) if spike is CpuSpike
                        else ("container.memory.usage_bytes", 900 * 2**20, 10 * 2**20))
    samples, raised, first = [], [], {}
    for n in range(3000):
        cid = f"c{rng.randrange(3)}"
        created = 1_790_000_000.0 + n
        # Memory learns each container's level over its first 10 s: those samples stay low, and are
        # not judged.
        learning = spike is MemorySpike and created - first.setdefault(cid, created) < 10.0
        above = not learning and rng.random() < rng.choice([0.2, 0.6, 0.9])
        event = new_event("linux", "linux.resources", "sample", created, container__id=cid,
                          **{field: high if above else low, "event.id": f"s{n}"})
        for alert in analytic.observe(event):
            raised.append((alert.evidence, alert.first_seen))
        if not learning:
            samples.append((cid, f"s{n}", created, above))
    assert raised == plain_window(samples)
    assert raised  # the streams do cross the ceiling
