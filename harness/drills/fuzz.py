"""Malformed telemetry: fuzzed lines through the replay path into DetectionEngine.process, and fuzzed
events through a live Monitor's queue, whose worker must survive them and still alert afterwards.

Kinds: truncated JSON, JSON that is not an object, wrong types in any field, huge fields, unknown
actions and datasets, required fields missing. Accounting: every line is either unparsed (counted
by the replay) or an engine event (counted by the engine), and the engine's ``dropped`` counts the
events that broke enrichment or a rule.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from harness.bench.report import Figure
from harness.bench.telemetry import generate, load_templates
from lab import poll

Progress = Callable[[str], None]
WEIRD: tuple[Any, ...] = (None, 0, -1, 2**70, 1.5e308, True, "", [], {}, ["a", 1], {"x": {"y": None}}, "\x00",
                          "é" * 3, [[[]]])
KINDS = ("truncated", "not-object", "wrong-type", "huge", "unknown-action", "unknown-dataset", "missing-required",
         "valid")


def fuzzed_lines(count: int, seed: int = 11) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    templates = load_templates()
    base = generate(count, seed=seed, templates=templates)
    for n, event in enumerate(base):
        kind = KINDS[n % len(KINDS)]
        if kind == "truncated":
            line = orjson.dumps(event)
            yield kind, line[: rng.randrange(1, max(2, len(line) - 1))]
            continue
        if kind == "not-object":
            yield kind, orjson.dumps(rng.choice([[event], 42, "event", None, [1, 2, 3]]))
            continue
        if kind == "wrong-type":
            for key in rng.sample(sorted(event), k=min(3, len(event))):
                event[key] = rng.choice(WEIRD)
        elif kind == "huge":
            key = rng.choice(["process.command_line", "file.path", "container.name", "dns.question.name",
                              "message", "container.labels.app"])
            event[key] = "A" * rng.choice([65_536, 1_048_576])
        elif kind == "unknown-action":
            event["event.action"] = f"action-{rng.getrandbits(32):x}"
        elif kind == "unknown-dataset":
            event["event.dataset"] = f"nowhere.{rng.getrandbits(16):x}"
            event["event.module"] = rng.choice(["nowhere", "docker", "linux"])
        elif kind == "missing-required":
            for key in ("event.id", "event.created", "event.dataset"):
                if rng.random() < 0.6:
                    event.pop(key, None)
        yield kind, json.dumps(event).encode()  # stdlib: orjson refuses integers past 64 bits


def accounting(lines: int, unparsed: int, engine_events: int) -> int:
    """Lines not accounted for (target 0): every line is unparsed or reached the engine."""
    return lines - unparsed - engine_events


def run(progress: Progress, count: int = 120_000) -> list[Figure]:
    from detectors.analytics import default_analytics
    from detectors.engine import DetectionEngine, Monitor, load_rules
    from detectors.policies import load_policy
    from detectors.replay import replay

    policy = load_policy()
    engine = DetectionEngine(load_rules(), policy, default_analytics(policy))
    by_kind: dict[str, int] = {}

    def lines() -> Iterator[bytes]:
        for kind, line in fuzzed_lines(count):
            by_kind[kind] = by_kind.get(kind, 0) + 1
            yield line

    started = time.monotonic()
    crash = ""
    try:
        counters, _ = replay(lines(), engine)
    except Exception as exc:
        crash = f"{type(exc).__name__}: {exc}"
        counters = None
    seconds = time.monotonic() - started
    unaccounted = accounting(counters.lines, counters.unparsed, engine.counters.events) if counters else count
    progress(f"drills: fuzz: {count:,} lines in {seconds:.0f}s; crash={crash or 'none'}")

    # The live path: the monitor's worker thread drains a queue; a bad event must not kill it.
    live_engine = DetectionEngine(load_rules(), policy, default_analytics(policy))
    monitor = Monitor(live_engine, [])
    monitor.start()
    fed = 0
    for _kind, line in fuzzed_lines(20_000, seed=12):
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict):
            monitor._emit_from("fuzz")(event)
            fed += 1
    canary = {"event.id": "canary-1", "event.module": "docker", "event.dataset": "docker.events",
              "event.action": "start", "event.created": time.time(), "container.id": "c" * 64,
              "container.name": "batch-canary",
              "container.logging.driver": "none", "container.network.names": ["stw-lan"]}
    monitor._emit_from("fuzz")(canary)
    poll(lambda: monitor.alerts_for(["container:" + "c" * 64]), 60, 0.1)
    alive = monitor._worker is not None and monitor._worker.is_alive()
    canary_alerted = bool(monitor.alerts_for(["container:" + "c" * 64]))
    monitor.stop()
    return [
        Figure("fuzz.crashes", f"crashes replaying {count:,} fuzzed lines ({by_kind})", 1 if crash else 0, 0, "<=",
               "crashes", detail={"crash": crash, "seconds": round(seconds, 1)}),
        Figure("fuzz.unaccounted", "fuzzed lines neither counted unparsed by the replay nor counted as events by the "
               "engine", unaccounted, 0, "<=", "lines",
               detail={"lines": counters.lines if counters else None,
                       "unparsed": counters.unparsed if counters else None,
                       "engine_events": engine.counters.events, "engine_dropped": engine.counters.dropped,
                       "alerts": engine.counters.alerts}),
        Figure("fuzz.monitor-survives", "live monitor fed fuzzed events, then a canary (log driver none): worker "
               "alive and canary alerted (0 = yes)", 0 if alive and canary_alerted else 1, 0, "<=",
               detail={"fed": fed, "worker_alive": alive, "canary_alerted": canary_alerted,
                       "engine_events": live_engine.counters.events, "engine_dropped": live_engine.counters.dropped}),
    ]
