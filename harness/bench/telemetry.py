"""Generate recorded-looking telemetry for the replay bench: a realistic mix over every sensor's dataset.

Templates are the events recorded from real runs under tests/fixtures/ (real field sets, real
values). Each generated event is a template with fresh identity: a unique ``event.id``, a clock
that advances, a container from a fixed pool (so per-object state in analytics and dedup is bounded
the way a real fleet bounds it), and a varied pid or source port. The mix weights follow what the
sensors emit in a live run: resource samples and execs dominate, engine events are a minority.

A template's other moments (a flow's ``event.start`` and ``event.end``) move with its clock, as
they would live: left at the recorded moment, every generated flow would start in the same past
second, and analytics that forget old flows (relays, volume windows) would never forget any, so a
long replay's memory would grow with its length for want of realistic time.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"
# dataset -> share of the stream (the rest of the recorded datasets share OTHER_SHARE evenly)
MIX = {
    "linux.resources": 0.34, "linux.process": 0.18, "network.flow": 0.12, "tracefs.tcp": 0.10,
    "docker.events": 0.08, "docker.container_logs": 0.05, "linux.fim": 0.03, "netns.nat": 0.03,
    "kubernetes.audit": 0.03, "network.dns": 0.02,
}
OTHER_SHARE = 0.02
CONTAINER_POOL = 300
MOMENTS = ("event.start", "event.end")  # a template's other timestamps, moved with its event.created
EVENT_SPACING_S = 0.004  # 250 events/s of event time: an hour of a busy host per ~1M events


def load_templates(root: Path = FIXTURES) -> dict[str, list[dict[str, Any]]]:
    """Recorded events by dataset (files that are lists of events, or {"events": [...]})."""
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(root.rglob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        events = doc.get("events") if isinstance(doc, dict) else doc
        if not isinstance(events, list):
            continue
        for event in events:
            if isinstance(event, dict) and isinstance(event.get("event.dataset"), str) and "event.id" in event:
                by_dataset.setdefault(event["event.dataset"], []).append(event)
    return by_dataset


def weights(datasets: list[str]) -> list[float]:
    """The share of each dataset; datasets outside MIX split OTHER_SHARE; shares sum to 1."""
    others = [d for d in datasets if d not in MIX]
    raw = [MIX.get(d, OTHER_SHARE / len(others) if others else 0.0) for d in datasets]
    total = sum(raw)
    return [w / total for w in raw]


def generate(count: int, seed: int = 7, templates: dict[str, list[dict[str, Any]]] | None = None,
             start: float = 1_790_000_000.0) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    templates = templates if templates is not None else load_templates()
    datasets = sorted(templates)
    shares = weights(datasets)
    pool = [f"{rng.getrandbits(128):032x}{rng.getrandbits(128):032x}" for _ in range(CONTAINER_POOL)]
    # Draw datasets in blocks: random.choices per event is a third of the generation time.
    picks = rng.choices(datasets, shares, k=min(count, 65536))
    for n in range(count):
        dataset = picks[n % len(picks)]
        template = rng.choice(templates[dataset])
        event = dict(template)
        event["event.id"] = f"replay-{n}"
        event["event.created"] = start + n * EVENT_SPACING_S
        _move_moments(event, template)
        if "container.id" in event:
            event["container.id"] = pool[rng.randrange(CONTAINER_POOL)]
        if "process.pid" in event:
            event["process.pid"] = rng.randrange(100, 4_000_000)
        if "source.port" in event:
            event["source.port"] = rng.randrange(32768, 61000)
        yield event


def _move_moments(event: dict[str, Any], template: dict[str, Any]) -> None:
    """Shift the template's other timestamps by as much as its ``event.created`` moved."""
    recorded = template.get("event.created")
    if not _is_time(recorded):
        return
    shift = event["event.created"] - recorded
    for name in MOMENTS:
        if _is_time(template.get(name)):
            event[name] = template[name] + shift


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def write(path: Path, count: int, seed: int = 7) -> int:
    """Write ``count`` events as JSON lines; returns the file's size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dumps = orjson.dumps
    with open(path, "wb", buffering=1 << 20) as out:
        for event in generate(count, seed):
            out.write(dumps(event))
            out.write(b"\n")
    return path.stat().st_size
