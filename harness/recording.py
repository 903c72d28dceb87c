"""Record a run for replay: its raw events as JSON lines, and what judging them again needs.

``stowaway run --record`` writes, beside the scorecards:

* ``events.jsonl``: every event the sensors emitted, one JSON object a line, in the order the
  detection engine received them and as the sensors emitted them (ECS-style dotted fields, no
  ``policy.*`` field yet: a replay asks the policy again, so a policy change is judged too);
* ``run.json``: each outcome's scenario id and variant, kind, window (``started_at``, ``action_at``,
  ``finished_at``), objects, the expectation it was judged by and its verdict then; and the platform
  facts a replay must consult offline (the image pipeline's public key, the signatures of the images
  the events mention, the network inventory entries of the networks they mention), collected the
  way ``harness/record.py`` collects them for the per-scenario fixtures.

``harness/replay.py`` reads both. Nothing in a recording is made up: a field the run did not have
is absent, never guessed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from detectors.event import Event
from harness.outcome import Outcome, RunResult
from scenarios.api import Expectation, Scenario

FORMAT = "stowaway-recorded-run/1"
EVENTS_FILE = "events.jsonl"
RUN_FILE = "run.json"


def mentioned(events: Iterable[Event], suffix: str) -> set[str]:
    """Every non-empty string held by a field whose name ends with ``suffix`` (a list counts each item)."""
    found: set[str] = set()
    for event in events:
        _collect(event, suffix, found)
    return found


def _collect(event: Event, suffix: str, into: set[str]) -> None:
    for key, value in event.items():
        if key.endswith(suffix):
            into.update(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v)


def read_signature(signatures_dir: Path, image_id: str) -> dict[str, Any] | None:
    """The pipeline's signature over ``image_id``, or None when it signed none (or it is gone)."""
    from lab import signature_file

    try:
        return dict(json.loads(signature_file(signatures_dir, image_id).read_text()))
    except (OSError, ValueError):
        return None


def platform_facts(paths: Any, image_ids: Iterable[str], network_ids: Iterable[str],
                   known_signatures: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The platform's published facts a replay needs: its public key, the signatures over these
    images (an unsigned image has none, and a replay finds it unsigned too), the inventory entries of
    these networks. ``paths`` is the lab's ``LabPaths``; ``known_signatures`` were read while the run
    went on (a scenario's image, signature and all, may be gone by its end)."""
    from lab import read_platform_networks

    trust = (paths.published_policy / "platform-trust.yaml").read_text()
    public_key = next(line.split('"')[1] for line in trust.splitlines() if "public_key:" in line)
    signatures = dict(known_signatures or {})
    for image_id in sorted(set(image_ids) - set(signatures)):
        signature = read_signature(paths.signatures, image_id)
        if signature is not None:
            signatures[image_id] = signature
    wanted = set(network_ids)
    inventory = [entry for entry in read_platform_networks(paths) if entry.get("id") in wanted]
    return {"public_key": public_key, "signatures": signatures, "networks": inventory}


def expectation_dict(expect: Expectation) -> dict[str, Any]:
    return {"fires": list(expect.fires), "silent": list(expect.silent), "within_s": expect.within_s,
            "window_s": expect.window_s, "may_fire": dict(expect.may_fire)}


def outcome_record(outcome: Outcome, expect: Expectation | None) -> dict[str, Any]:
    """What a replay needs of one outcome to judge it again (and what it was judged then)."""
    return {
        "scenario_id": outcome.scenario_id, "variant_of": outcome.variant_of, "variant": outcome.variant,
        "title": outcome.title, "kind": outcome.kind, "techniques": outcome.techniques, "backend": outcome.backend,
        "started_at": outcome.started_at, "action_at": outcome.action_at, "finished_at": outcome.finished_at,
        "objects": outcome.objects,
        "expect": None if expect is None else expectation_dict(expect),
        "recorded_verdict": outcome.verdict.value, "recorded_reason": outcome.reason,
    }


class RunRecorder:
    """A monitor tap (``Monitor.add_tap``) writing each raw event as a JSON line.

    It runs on the detection engine's thread, so it must be cheap and must never raise: an event it
    cannot serialise is counted in ``unrecorded`` (and said in run.json), not lost silently.
    """

    def __init__(self, out_dir: Path, signatures_dir: Path | None = None) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        # Read a signature when its image is first seen: a scenario that removes its image at
        # cleanup removes the signature too, long before the run ends (a replay then found the
        # platform's own image unsigned: a false impersonation, measured).
        self.signatures_dir = signatures_dir
        self.signatures: dict[str, Any] = {}
        self.out_dir = out_dir
        self._file: IO[bytes] | None = open(out_dir / EVENTS_FILE, "wb")  # noqa: SIM115  # closed by close()
        self._lock = threading.Lock()
        self.recorded = 0
        self.unrecorded = 0
        self.image_ids: set[str] = set()
        self.network_ids: set[str] = set()

    def tap(self, event: Event) -> None:
        try:
            line = orjson.dumps(event, default=str, option=orjson.OPT_APPEND_NEWLINE)
            seen = set(self.image_ids)
            _collect(event, "image.id", self.image_ids)
            if self.signatures_dir is not None:
                for image_id in self.image_ids - seen:
                    signature = read_signature(self.signatures_dir, image_id)
                    if signature is not None:
                        self.signatures[image_id] = signature
            _collect(event, "network.ids", self.network_ids)
            _collect(event, "network.id", self.network_ids)
        except Exception:  # a tap that raises is dropped by the monitor: count it instead
            self.unrecorded += 1
            return
        with self._lock:
            if self._file is not None:
                self._file.write(line)
                self.recorded += 1

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def write_run(self, result: RunResult, scenarios: Sequence[type[Scenario]],
                  platform: Mapping[str, Any] | None) -> Path:
        """run.json for ``result``: each outcome with the expectation of its scenario (a variant's is
        its scenario's), and the platform facts (None when the lab never came up to publish them)."""
        by_id = {cls.id: cls for cls in scenarios}
        outcomes = []
        for outcome in result.outcomes:
            cls = by_id.get(outcome.variant_of or outcome.scenario_id)
            outcomes.append(outcome_record(outcome, None if cls is None else cls.expect))
        document = {
            "format": FORMAT,
            "run_id": result.run_id,
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "captured_from": "a real run (stowaway run --record)",
            "backend": result.backend,
            "attack_version": result.attack_version,
            "status": result.status,
            "events": {"file": EVENTS_FILE, "recorded": self.recorded, "unrecorded": self.unrecorded},
            "platform": dict(platform) if platform is not None else None,
            "outcomes": outcomes,
        }
        path = self.out_dir / RUN_FILE
        path.write_text(json.dumps(document, indent=1, default=str) + "\n")
        return path


# --- a recorded run assembled from per-scenario fixtures (harness/record.py) -----------------------------


def assemble(fixtures: Sequence[Mapping[str, Any]], sources: Sequence[str],
             run_id: str) -> tuple[dict[str, Any], list[Event]]:
    """run.json and the events of one run made of per-scenario fixtures recorded by harness/record.py.

    The events and platform facts are the fixtures' own. A fixture keeps neither the scenario's window
    nor its objects, so those are derived from its events, and said so in run.json: ``objects`` are the
    objects its events concern, ``started_at`` is a second before its first event (record.py kept
    events from a second before the start), ``action_at`` its first event (so a latency is at most
    the live one plus the deploy) and ``finished_at`` its last event. The expectation is the
    scenario's in the registry now; title, kind and techniques too.
    """
    from detectors.event import object_ref
    from scenarios.registry import load

    registry = load()
    events: list[Event] = []
    outcomes = []
    platform: dict[str, Any] = {"public_key": None, "signatures": {}, "networks": []}
    for fixture, source in zip(fixtures, sources, strict=True):
        cls = registry.get(str(fixture["scenario"]))
        mine = list(fixture["events"])
        times = [float(e["event.created"]) for e in mine]
        objects = sorted({ref for e in mine if (ref := object_ref(e))})
        outcomes.append({
            "scenario_id": cls.id, "variant_of": None, "variant": {}, "title": cls.title, "kind": cls.kind.value,
            "techniques": list(cls.techniques), "backend": cls.id.split(".")[0],
            "started_at": min(times) - 1.0, "action_at": min(times), "finished_at": max(times),
            "objects": objects, "expect": expectation_dict(cls.expect),
            "recorded_verdict": fixture["verdict_when_recorded"],
            "recorded_reason": f"recorded by harness/record.py on {fixture['recorded_at']}",
            "assembled_from": source,
        })
        events += mine
        facts = fixture["platform"]
        if platform["public_key"] not in (None, facts["public_key"]):
            raise ValueError(f"{source}: signed by another platform key than the fixtures before it")
        platform["public_key"] = facts["public_key"]
        platform["signatures"].update(facts.get("signatures", {}))
        known = {n.get("id") for n in platform["networks"]}
        platform["networks"] += [n for n in facts.get("networks", []) if n.get("id") not in known]
    events.sort(key=lambda e: float(e["event.created"]))
    document = {
        "format": FORMAT, "run_id": run_id,
        "recorded_at": max(str(f["recorded_at"]) for f in fixtures),
        "captured_from": "assembled from per-scenario recordings of real runs (harness/record.py): "
                         + ", ".join(sources),
        "approximated": ["outcomes[].started_at", "outcomes[].action_at", "outcomes[].finished_at",
                         "outcomes[].objects"],
        "backend": "docker", "attack_version": None, "status": "complete",
        "events": {"file": EVENTS_FILE, "recorded": len(events), "unrecorded": 0},
        "platform": platform, "outcomes": outcomes,
    }
    return document, events


def main(argv: Sequence[str] | None = None) -> int:
    """python -m harness.recording --out DIR FIXTURE.json [...]: assemble a recorded run from fixtures."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m harness.recording", description=main.__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("fixtures", nargs="+", type=Path)
    args = parser.parse_args(argv)
    fixtures = [json.loads(path.read_text()) for path in args.fixtures]
    document, events = assemble(fixtures, [path.name for path in args.fixtures], args.out.name)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / RUN_FILE).write_text(json.dumps(document, indent=1) + "\n")
    (args.out / EVENTS_FILE).write_bytes(b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in events))
    print(f"{args.out}: {len(document['outcomes'])} outcome(s), {len(events)} event(s)")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
