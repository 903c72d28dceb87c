"""Replay support for fixtures recorded by ``harness/record.py`` (real scenario runs).

A recorded fixture carries, besides its events, the platform facts a replay must consult: the image
pipeline's public key with the signatures of the images the events mention, and the platform's
network inventory entries for the networks they mention. ``policy_for`` writes them where the lab
would have published them, and loads the shipped policy beside them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from detectors.policies import DEFAULT_POLICY_DIR, Policy, load_policy
from lab.provenance import signature_file

RECORDED = Path(__file__).parent.parent / "fixtures" / "recorded"


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / f"{name}.json").read_text())


def publish(platform: dict[str, Any], directory: Path) -> Path:
    """Write the recorded platform facts as the lab's published policy. Returns the directory."""
    published = directory / "published"
    store = directory / "signatures"
    published.mkdir(parents=True, exist_ok=True)
    store.mkdir(parents=True, exist_ok=True)
    for image_id, document in platform.get("signatures", {}).items():
        signature_file(store, image_id).write_text(json.dumps(document))
    (published / "platform-trust.yaml").write_text(
        "kind: trust\nsigners:\n  - name: platform-image-pipeline\n    owner: platform-team\n"
        "    description: recorded with the fixture\n"
        f"    public_key: \"{platform['public_key']}\"\n    signatures: \"{store}\"\n")
    networks = platform.get("networks", [])
    (published / "platform-networks.yaml").write_text(
        "kind: platform_networks\nnetworks:\n" + "".join(f"  - {json.dumps(n)}\n" for n in networks)
        if networks else "kind: platform_networks\nnetworks: []\n")
    return published


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
    alerts: list[Any] = []
    next_tick = None
    last = 0.0
    for event in sorted(fixture["events"], key=lambda e: float(e["event.created"])):
        at = float(event["event.created"])
        next_tick = at + 1.0 if next_tick is None else next_tick
        while next_tick <= at:  # the monitor ticks once a second, whatever the events do
            alerts += engine.tick(next_tick)
            next_tick += 1.0
        copy = dict(event)
        alerts += engine.process(copy)
        if enriched is not None:
            enriched.append(copy)
        last = at
    alerts += engine.tick(last + 60)
    if enriched is not None and engine.counters.dropped:  # what the rules saw of those is unknown
        raise AssertionError(f"the engine dropped {engine.counters.dropped} event(s) of the fixture")
    return alerts
