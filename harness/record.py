"""Record the telemetry of real scenario runs as test fixtures.

    python -m harness.record --out tests/fixtures/recorded SCENARIO_ID [...]

Runs the scenarios on the lab engine with the detectors attached, the way ``stowaway run`` does,
and keeps every event the sensors emitted (before enrichment: ``policy.*`` fields are the
policy's answer, and a replay must ask the policy again). One file per scenario holds the events
about that scenario's objects, plus what a replay needs to ask the same questions offline: the
platform's public key and the signatures of every image the events mention, and the platform's
network inventory entries for every network they mention. Nothing in a fixture is made up.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detectors.event import Event, object_ref
from harness.monitoring import add_cluster_sensors, build_monitor
from harness.outcome import Outcome
from harness.recording import mentioned, platform_facts
from harness.runner import RunOptions, run_all
from lab import LabSession
from scenarios.registry import load

FORMAT = "stowaway-recorded-scenario/1"
# Fields that name the objects an event is about, besides its own object (a flow's peer container).
RELATED = ("destination.container.id", "container.id")
SETTLE_S = 3.0  # events of a scenario's teardown (die, destroy) still arriving after it finished


def _refs(event: Event) -> set[str]:
    refs = {object_ref(event) or ""}
    refs.update(f"container:{event[key]}" for key in RELATED if event.get(key))
    return refs - {""}


def platform_material(session: LabSession, events: list[Event]) -> dict[str, Any]:
    """The platform's published facts these events need: its public key, the signatures over the
    images they mention, the inventory entries of the networks they mention."""
    networks = mentioned(events, "network.ids") | mentioned(events, "network.id")
    return platform_facts(session.paths, mentioned(events, "image.id"), networks)


def fixture_for(outcome: Outcome, events: list[Event], session: LabSession) -> dict[str, Any]:
    wanted = set(outcome.objects)
    # A shared object (the engine's daemon.json, a node) is also other scenarios' object: only what
    # happened while this scenario ran is its telemetry (its teardown's last events included).
    start = outcome.started_at - 1.0

    def in_time(event: Event) -> bool:
        # A container's teardown events (die, destroy) arrive after the scenario finished; a shared
        # object has no teardown of ours, and the next scenario may already be changing it.
        own = (object_ref(event) or "").startswith(("container:", "service:", "pod:"))
        end = outcome.finished_at + (SETTLE_S if own else 0.0)
        return start <= float(event.get("event.created") or 0) <= end

    mine = [e for e in events if _refs(e) & wanted and in_time(e)]
    return {
        "format": FORMAT,
        "scenario": outcome.scenario_id,
        "captured_from": "the lab's private engine, a real scenario run (harness/record.py)",
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "verdict_when_recorded": outcome.verdict.value,
        "platform": platform_material(session, mine),
        "events": mine,
    }


def record(scenario_ids: Sequence[str], out: Path, parallel: int = 3) -> list[Path]:
    registry = load()
    scenarios = [registry.get(i) for i in scenario_ids]
    captured: list[Event] = []
    written = []
    with LabSession() as session:
        monitor = build_monitor(session.engine, run_id=session.run_id)
        add_cluster_sensors(monitor, session)
        process = monitor.engine.process

        def tap(event: Event) -> Any:
            captured.append({k: v for k, v in event.items() if not k.startswith("policy.")})
            return process(event)

        monitor.engine.process = tap  # type: ignore[method-assign]  # a recording wrapper, nothing else
        monitor.start()
        try:
            outcomes = run_all(scenarios, session, monitor, RunOptions(parallel=parallel, progress=print))
            time.sleep(SETTLE_S)  # the last events of the teardown (die, destroy) reach the queue
        finally:
            monitor.stop()
        out.mkdir(parents=True, exist_ok=True)
        for outcome in outcomes:
            path = out / f"{outcome.scenario_id}.json"
            path.write_text(json.dumps(fixture_for(outcome, captured, session), indent=1, default=str) + "\n")
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.record", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--parallel", type=int, default=3)
    parser.add_argument("scenarios", nargs="+")
    args = parser.parse_args(argv)
    for path in record(args.scenarios, args.out, args.parallel):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
