"""Replay a recorded run: judge its events again, with today's rules and policy, without a lab.

``stowaway replay RUN_DIR`` reads what ``stowaway run --record`` wrote (``harness/recording.py``):
the raw events are enriched by the policy (the given or shipped one, plus the platform facts the
recording kept), evaluated by the detection engine (Sigma rules and analytics, ticked once a second
on the recorded clock as the live monitor ticks on wall time), attributed to each outcome's objects
and window, and judged by ``harness/judge.py``, the same pure judge the runner uses.

What a replay reproduces and what it cannot:

* time is the recorded sensor clock: an alert's ``raised_at`` is the time of the event (or tick)
  that raised it, so latencies leave out the live pipeline's delay, and the runner's waits (an
  adversary's deadline and settle, a twin's window) are replayed on that clock;
* a scenario that ran at a simulated calendar moment (``simulated_time``: the seasonal baselines)
  is replayed on the recorded clock, not on that moment: its seasonal analytics answer differently;
* an outcome that was skipped or an error has nothing to judge: it keeps its recorded verdict;
* the soak's fleet is not replayed (its services' objects are not in run.json).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.alert import Alert
from detectors.engine import DetectionEngine
from detectors.event import Event, object_ref
from harness.jsonlines import objects
from harness.judge import judge
from harness.outcome import Outcome, RunResult, Verdict
from harness.recording import EVENTS_FILE, FORMAT, RUN_FILE
from scenarios.api import Expectation, Kind

# The runner's settle after an adversary's expected rules fired (harness.runner.COLLATERAL_SETTLE_S):
# collateral raised within it was judged live, so it is judged here too.
COLLATERAL_SETTLE_S = 2.0
LAST_TICK_S = 60.0  # after the last event, one last tick: what analytics raise on time alone
# A silence longer than this (a paused recording, a clock jump) is ticked through its first so many
# seconds only, then resumed just before the next event: live ticks every second, but an hour of empty
# ticks would only expire state that those first ten minutes already expired.
MAX_IDLE_TICKS = 600


class RecordingError(Exception):
    """A recorded run that cannot be replayed; the message names the file and the field."""

    def __init__(self, path: Path, field: str, problem: str) -> None:
        super().__init__(f"{path}: field {field}: {problem}")
        self.path, self.field, self.problem = path, field, problem


@dataclass(frozen=True, slots=True)
class RecordedOutcome:
    """One outcome of a recorded run: what judging it again needs."""

    scenario_id: str
    title: str
    kind: Kind
    techniques: list[str]
    backend: str
    started_at: float
    action_at: float | None
    finished_at: float
    objects: list[str]
    expect: Expectation | None  # None: the scenario was not known when recorded (not re-judged)
    recorded_verdict: Verdict
    recorded_reason: str
    variant_of: str | None = None
    variant: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordedRun:
    directory: Path
    run_id: str
    backend: str
    platform: dict[str, Any] | None
    outcomes: list[RecordedOutcome]
    events: list[Event]


# --- reading ----------------------------------------------------------------------------------------


def _need(data: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path, where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (kind in (int, float, (int, float)) and isinstance(value, bool)):
        names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise RecordingError(path, f"{where}{key}", f"must be {names}, not {type(value).__name__}")
    return value


def _expectation(raw: Any, path: Path, where: str) -> Expectation | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise RecordingError(path, where, "must be an object or null")
    number = (int, float)
    return Expectation(
        fires=tuple(str(r) for r in _need(raw, "fires", list, path, f"{where}.")),
        silent=tuple(str(r) for r in _need(raw, "silent", list, path, f"{where}.")),
        within_s=float(_need(raw, "within_s", number, path, f"{where}.")),
        window_s=float(_need(raw, "window_s", number, path, f"{where}.")),
        may_fire={str(k): str(v) for k, v in _need(raw, "may_fire", dict, path, f"{where}.").items()})


def _outcome(raw: Any, path: Path, where: str) -> RecordedOutcome:
    if not isinstance(raw, dict):
        raise RecordingError(path, where, "must be an object")
    number = (int, float)
    dot = f"{where}."
    kind = _need(raw, "kind", str, path, dot)
    if kind not in {k.value for k in Kind}:
        raise RecordingError(path, f"{dot}kind", f"must be adversary or benign, not {kind!r}")
    verdict = _need(raw, "recorded_verdict", str, path, dot)
    if verdict not in {v.value for v in Verdict}:
        raise RecordingError(path, f"{dot}recorded_verdict", f"{verdict!r} is not a verdict")
    action_at = raw.get("action_at")
    if action_at is not None and not isinstance(action_at, number):
        raise RecordingError(path, f"{dot}action_at", "must be a number or null")
    objects = _need(raw, "objects", list, path, dot)
    if not all(isinstance(o, str) for o in objects):
        raise RecordingError(path, f"{dot}objects", "must be a list of object refs (strings)")
    return RecordedOutcome(
        scenario_id=_need(raw, "scenario_id", str, path, dot), title=str(raw.get("title") or ""), kind=Kind(kind),
        techniques=[str(t) for t in raw.get("techniques") or []], backend=str(raw.get("backend") or ""),
        started_at=float(_need(raw, "started_at", number, path, dot)),
        action_at=None if action_at is None else float(action_at),
        finished_at=float(_need(raw, "finished_at", number, path, dot)), objects=list(objects),
        expect=_expectation(raw.get("expect"), path, f"{dot}expect"), recorded_verdict=Verdict(verdict),
        recorded_reason=str(raw.get("recorded_reason") or ""), variant_of=raw.get("variant_of"),
        variant=dict(raw.get("variant") or {}))


def read_events(path: Path) -> list[Event]:
    """Every line of ``events.jsonl`` as an Event; a line that is not one is bad input (by number)."""
    events = []
    try:
        with open(path, "rb") as lines:
            for number, event, why in objects(lines):
                if event is None:
                    raise RecordingError(path, f"line {number}", why)
                if not isinstance(event.get("event.created"), (int, float)) or isinstance(event["event.created"], bool):
                    raise RecordingError(path, f"line {number}: event.created", "must be a number (epoch seconds)")
                events.append(event)
    except FileNotFoundError:
        raise RecordingError(path, "(file)", "not found (record the run with `stowaway run --record`)") from None
    return events


def load_run(directory: Path) -> RecordedRun:
    """Read and check a recorded run directory. Raises RecordingError naming the file and field."""
    path = directory / RUN_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RecordingError(path, "(file)", "not found (record the run with `stowaway run --record`)") from None
    except ValueError as exc:
        raise RecordingError(path, "(file)", f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RecordingError(path, "(file)", "must be a JSON object")
    if data.get("format") != FORMAT:
        raise RecordingError(path, "format", f"{data.get('format')!r} is not readable (this reads {FORMAT})")
    platform = data.get("platform")
    if platform is not None and (not isinstance(platform, dict) or not isinstance(platform.get("public_key"), str)):
        raise RecordingError(path, "platform", "must be null or an object with a public_key")
    outcomes = [_outcome(row, path, f"outcomes[{i}]")
                for i, row in enumerate(_need(data, "outcomes", list, path, ""))]
    events_name = (data.get("events") or {}).get("file", EVENTS_FILE) if isinstance(data.get("events"), dict) \
        else EVENTS_FILE
    return RecordedRun(directory=directory, run_id=str(data.get("run_id") or directory.name),
                       backend=str(data.get("backend") or "docker"), platform=platform, outcomes=outcomes,
                       events=read_events(directory / str(events_name)))


# --- the platform facts, published where the lab would have published them ---------------------------


def publish(platform: dict[str, Any], directory: Path) -> Path:
    """Write recorded platform facts as the lab's published policy under ``directory``; returns the
    policy directory to load beside the shipped policy."""
    from lab.provenance import signature_file

    published = directory / "published"
    store = directory / "signatures"
    published.mkdir(parents=True, exist_ok=True)
    store.mkdir(parents=True, exist_ok=True)
    for image_id, document in platform.get("signatures", {}).items():
        signature_file(store, image_id).write_text(json.dumps(document))
    (published / "platform-trust.yaml").write_text(
        "kind: trust\nsigners:\n  - name: platform-image-pipeline\n    owner: platform-team\n"
        "    description: recorded with the run\n"
        f"    public_key: \"{platform['public_key']}\"\n    signatures: \"{store}\"\n")
    networks = platform.get("networks", [])
    (published / "platform-networks.yaml").write_text(
        "kind: platform_networks\nnetworks:\n" + "".join(f"  - {json.dumps(n)}\n" for n in networks)
        if networks else "kind: platform_networks\nnetworks: []\n")
    return published


# --- the engine on the recorded clock ------------------------------------------------------------------


def replay_events(events: Sequence[Event], engine: DetectionEngine,
                  enriched: list[Event] | None = None) -> list[Alert]:
    """Every alert ``engine`` raises on ``events`` in recorded time order, ticked once a second of
    recorded time (then once more a minute after the last event). Each alert's ``raised_at`` is the
    recorded moment that raised it. ``enriched`` receives each event as the rules saw it."""
    alerts: list[Alert] = []
    next_tick: float | None = None
    last = 0.0

    def at(moment: float, raised: list[Alert]) -> None:
        alerts.extend(dataclasses.replace(a, raised_at=moment) for a in raised)

    for event in sorted(events, key=lambda e: float(e["event.created"])):
        created = float(event["event.created"])
        next_tick = created + 1.0 if next_tick is None else next_tick
        if created - next_tick > MAX_IDLE_TICKS:  # a long silence: its first ticks, then on to the event
            for _ in range(MAX_IDLE_TICKS):
                at(next_tick, engine.tick(next_tick))
                next_tick += 1.0
            next_tick += float(int(created - next_tick))
        while next_tick <= created:  # the monitor ticks once a second, whatever the events do
            at(next_tick, engine.tick(next_tick))
            next_tick += 1.0
        copy = dict(event)
        at(created, engine.process(copy))
        if enriched is not None:
            enriched.append(copy)
        last = created
    at(last + LAST_TICK_S, engine.tick(last + LAST_TICK_S))
    return alerts


def _judged_at(recorded: RecordedOutcome, expect: Expectation, action_at: float, mine: list[Alert]) -> float:
    """When the runner would have judged, on the recorded clock: a twin at the end of its window; an
    adversary once every expected rule fired (or at its deadline), plus the collateral settle."""
    if recorded.kind is Kind.BENIGN:
        return action_at + expect.window_s
    deadline = action_at + expect.within_s
    first: dict[str, float] = {}
    for alert in mine:
        first[alert.rule_id] = min(first.get(alert.rule_id, alert.raised_at), alert.raised_at)
    fired = [first[r] for r in expect.fires if r in first and first[r] <= deadline]
    done = max([action_at, *fired]) if len(fired) == len(expect.fires) else deadline
    return done + COLLATERAL_SETTLE_S


def judge_outcome(recorded: RecordedOutcome, alerts: Sequence[Alert], seen: dict[str, set[str]]) -> Outcome:
    """One recorded outcome judged again on ``alerts`` (every alert of the replay)."""
    outcome = Outcome(scenario_id=recorded.scenario_id, title=recorded.title, kind=recorded.kind.value,
                      techniques=list(recorded.techniques), backend=recorded.backend,
                      verdict=recorded.recorded_verdict, reason=recorded.recorded_reason,
                      started_at=recorded.started_at, action_at=recorded.action_at,
                      finished_at=recorded.finished_at, objects=list(recorded.objects),
                      variant_of=recorded.variant_of, variant=dict(recorded.variant))
    if recorded.recorded_verdict in (Verdict.SKIPPED, Verdict.ERROR) or recorded.expect is None:
        outcome.reason = f"{outcome.reason} (as recorded: nothing to judge again)".lstrip()
        return outcome
    expect = recorded.expect
    wanted = set(recorded.objects)
    action_at = recorded.action_at if recorded.action_at is not None else recorded.started_at
    mine = [a for a in alerts if a.object in wanted and a.first_seen >= recorded.started_at]
    until = min(_judged_at(recorded, expect, action_at, mine), recorded.finished_at)
    attributed = [a for a in mine if a.raised_at <= until]
    outcome.alerts = [a.to_dict() for a in attributed]
    outcome.data_sources = sorted(set().union(*(seen.get(ref, set()) for ref in wanted)))
    verdict = judge(recorded.kind, expect, attributed, action_at, outcome.data_sources)
    outcome.verdict, outcome.reason, outcome.visibility = verdict.verdict, verdict.reason, verdict.visibility
    outcome.latency_s = verdict.latency_s
    outcome.rules = list(verdict.rules)
    outcome.collateral = list(verdict.collateral)
    return outcome


def replay_run(run: RecordedRun, rule_dirs: Sequence[Path] = (), policy_dirs: Sequence[Path] = ()) -> RunResult:
    """Judge a recorded run again. ``rule_dirs`` replace the shipped rules (and installed rule packs),
    ``policy_dirs`` the shipped policy; the recorded platform facts are always loaded beside it.
    Raises SigmaRuleError or PolicyError (naming the file) on a broken rule or policy."""
    from detectors.analytics import default_analytics
    from detectors.engine import load_rules
    from detectors.policies import DEFAULT_POLICY_DIR, load_policy
    from harness.blind_spots import blindspots_of
    from harness.monitoring import rule_dirs_or_default
    from harness.runner import _note_known_blind_spot
    from scenarios.attack import catalog

    rules = load_rules(rule_dirs_or_default(rule_dirs))
    with tempfile.TemporaryDirectory(prefix="stowaway-replay-") as scratch:
        dirs = list(policy_dirs) or [DEFAULT_POLICY_DIR]
        if run.platform is not None:
            dirs.append(publish(run.platform, Path(scratch)))
        policy = load_policy(dirs)
        engine = DetectionEngine(rules, policy, default_analytics(policy))
        alerts = replay_events(run.events, engine)
    seen: dict[str, set[str]] = {}
    for event in run.events:
        ref = object_ref(event)
        if ref:
            seen.setdefault(ref, set()).add(str(event.get("observer.name", "?")))
    outcomes = [judge_outcome(recorded, alerts, seen) for recorded in run.outcomes]
    if any(o.variant_of for o in outcomes):
        blindspots = blindspots_of(rule_dirs)
        for outcome in outcomes:
            _note_known_blind_spot(outcome, blindspots)
    times = [float(e["event.created"]) for e in run.events] or [0.0]
    return RunResult(
        run_id=f"replay-{run.run_id}", attack_version=catalog().version, backend=run.backend,
        started_at=min(times), finished_at=max(times), outcomes=outcomes, status="complete",
        environment={"replay_of": str(run.directory), "recorded_run_id": run.run_id, "events": len(run.events),
                     "rules": [str(d) for d in rule_dirs] or "shipped",
                     "policy": [str(d) for d in policy_dirs] or "shipped",
                     "engine_dropped": engine.counters.dropped})
