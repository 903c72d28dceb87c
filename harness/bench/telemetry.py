"""Generate recorded-looking telemetry for the replay bench: a realistic mix over every sensor's dataset.

Templates are the events recorded from real runs under tests/fixtures/ (real field sets, real
values). Each generated event is a template with fresh identity: a unique ``event.id``, a clock
that advances, a container from a fixed pool (so per-object state in analytics and dedup is bounded
the way a real fleet bounds it), and a varied pid or source port. The mix weights follow what the
sensors emit in a live run: resource samples and execs dominate, engine events are a minority.
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
        event = dict(rng.choice(templates[dataset]))
        event["event.id"] = f"replay-{n}"
        event["event.created"] = start + n * EVENT_SPACING_S
        if "container.id" in event:
            event["container.id"] = pool[rng.randrange(CONTAINER_POOL)]
        if "process.pid" in event:
            event["process.pid"] = rng.randrange(100, 4_000_000)
        if "source.port" in event:
            event["source.port"] = rng.randrange(32768, 61000)
        yield event


def write(path: Path, count: int, seed: int = 7) -> int:
    """Write ``count`` events as JSON lines; returns the file's size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dumps = orjson.dumps
    with open(path, "wb", buffering=1 << 20) as out:
        for event in generate(count, seed):
            out.write(dumps(event))
            out.write(b"\n")
    return path.stat().st_size
