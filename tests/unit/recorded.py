"""Replay support for fixtures recorded by ``harness/record.py`` (real scenario runs).

A recorded fixture carries, besides its events, the platform facts a replay must consult: the image
pipeline's public key with the signatures of the images the events mention, and the platform's
network inventory entries for the networks they mention. ``policy_for`` writes them where the lab
would have published them (``harness.replay.publish``), and loads the shipped policy beside them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from detectors.policies import DEFAULT_POLICY_DIR, Policy, load_policy
from harness.replay import publish, replay_events

RECORDED = Path(__file__).parent.parent / "fixtures" / "recorded"


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / f"{name}.json").read_text())


def policy_for(fixture: dict[str, Any], directory: Path, policy_dir: Path = DEFAULT_POLICY_DIR) -> Policy:
    return load_policy([policy_dir, publish(fixture["platform"], directory)])


def replay(fixture: dict[str, Any], policy: Policy, analytics: bool = True, rule_dirs: list[Path] | None = None,
           enriched: list[dict[str, Any]] | None = None) -> list[Any]:
    """Every alert the detection engine raises on a recorded run's events, in recorded order, with
    the analytics' once-a-second ticks replayed on the recorded clock (then a last one a minute on).
    ``enriched`` receives each event as the rules saw it, policy fields added (then no event may
    have been dropped: what the rules saw of it would be unknown)."""
    from detectors.analytics import default_analytics
    from detectors.engine import DEFAULT_RULE_DIR, DetectionEngine, load_rules

    engine = DetectionEngine(load_rules(rule_dirs or [DEFAULT_RULE_DIR]), policy,
                             default_analytics(policy) if analytics else ())
    alerts = replay_events(fixture["events"], engine, enriched)
    if enriched is not None and engine.counters.dropped:  # what the rules saw of those is unknown
        raise AssertionError(f"the engine dropped {engine.counters.dropped} event(s) of the fixture")
    return alerts
