"""Grade another detector's alerts on a finished run: a pure decision, like ``harness.judge``.

An external alert belongs to a scenario when the container it names (directly, or through the pid
the harness resolved while the run went on) is one of the objects the lab reported for that
scenario, or, naming no container the run knows, the pod it names is one (a pod the lab made, or a
pod of a Deployment, DaemonSet, Job... the lab made, by the name Kubernetes gives those), and the
tool's own timestamp falls inside the scenario's window. Then, per scenario:

* adversary with a mapping entry: ``detected`` when every rule of the entry alerted on it, else
  ``missed``; latency is the tool's timestamp of the first alert minus the scenario's action;
* adversary without one: ``no_expectation`` (its alerts are still listed): never a pass;
* benign twin: ``false_positive`` when any rule the mapping does not ignore alerted on it, else
  ``silent``; the soak's fleet is judged the same way, alert by alert;
* a scenario that errored or was skipped: ``not_run`` (nothing can be concluded of any detector).

Alerts from other rules on an adversary's objects are listed as ``also_fired``; they are not counted
as false positives (the object is hostile: an alert on it is not noise on an honest workload). An
alert naming no lab object of the run (host activity, another tool's own traffic, an attribution the
record did not allow) is counted as unattributed, by rule, so a reader sees how much of the tool's
output the lab could not place.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.external.alert import ExternalAlert
from harness.external.mapping import DetectorMapping
from harness.outcome import Outcome, RunResult, Verdict

WINDOW_SLACK_S = 2.0  # the tool's clock and ours are the same host clock; this absorbs rounding only
UNATTRIBUTED_RULES_KEPT = 10


class ExternalVerdict(enum.StrEnum):
    DETECTED = "detected"
    MISSED = "missed"
    NO_EXPECTATION = "no_expectation"
    SILENT = "silent"
    FALSE_POSITIVE = "false_positive"
    NOT_RUN = "not_run"


@dataclass(slots=True)
class ExternalResult:
    """One scenario, judged on one external detector's alerts."""

    scenario_id: str
    kind: str
    verdict: ExternalVerdict
    reason: str
    expected: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)  # every rule that alerted on its objects
    latency_s: float | None = None  # detected only: worst over the expected rules
    variant_of: str | None = None  # a variant row: the scenario it varies

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data


@dataclass(slots=True)
class DetectorReport:
    """Everything the scorecard says about one external detector in one run."""

    detector: str
    format: str
    source: str  # where its alerts came from ("file:...", "http://127.0.0.1:.../", "auditd:...")
    mapping: str  # the mapping file, "" when none
    about: str = ""
    alerts: int = 0  # alerts read from the source
    attributed: int = 0  # of them, on an object of this run
    unattributed: int = 0
    unattributed_rules: dict[str, int] = field(default_factory=dict)  # the most frequent, by count
    ignored: dict[str, str] = field(default_factory=dict)  # rule -> why (from the mapping)
    unreadable: int = 0  # records the source could not read as alerts
    problems: list[str] = field(default_factory=list)  # the first few, with their place
    notes: list[str] = field(default_factory=list)  # what the source says of itself (rules loaded, ...)
    soak_false_positives: dict[str, int] = field(default_factory=dict)  # rule -> alerts on the fleet
    results: list[ExternalResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["results"] = [r.to_dict() for r in self.results]
        return data

    def counts(self) -> dict[str, int]:
        """Canonical rows only, like the summary of the embedded detectors."""
        found = Counter(r.verdict.value for r in self.results if r.variant_of is None)
        return {v.value: found.get(v.value, 0) for v in ExternalVerdict}


def _index(run: RunResult) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Container id (full, and its 12-character short form) -> the outcomes that hold it."""
    full: dict[str, list[int]] = {}
    short: dict[str, list[int]] = {}
    for i, outcome in enumerate(run.outcomes):
        for ref in outcome.objects:
            if ref.startswith("container:"):
                cid = ref.removeprefix("container:")
                full.setdefault(cid, []).append(i)
                short.setdefault(cid[:12], []).append(i)
    return full, short


# Controllers whose pods are named "<controller name>-<suffix>" by Kubernetes itself.
POD_OWNERS = frozenset({"deployment", "replicaset", "daemonset", "statefulset", "job", "cronjob"})


def _pods(run: RunResult) -> list[tuple[str, str, bool, int]]:
    """(namespace, name, is a controller, outcome) for each Kubernetes object the lab reported."""
    found = []
    for i, outcome in enumerate(run.outcomes):
        for ref in outcome.objects:
            if ref.startswith("k8sname:"):
                kind, _, rest = ref.removeprefix("k8sname:").partition("/")
                namespace, _, name = rest.partition("/")
                if kind == "pod" or kind in POD_OWNERS:
                    found.append((namespace, name, kind != "pod", i))
    return found


def _pod_matches(alert: ExternalAlert, pods: list[tuple[str, str, bool, int]]) -> list[int]:
    """A tool that names a pod (and no container the run knows): the pod itself, or a controller's
    pod by the name Kubernetes gives it (``<controller>-<suffix>``), in the same namespace."""
    if not alert.pod_name or not alert.pod_namespace:
        return []
    return [i for namespace, name, owner, i in pods if namespace == alert.pod_namespace
            and (alert.pod_name == name or (owner and alert.pod_name.startswith(f"{name}-")))]


def _soak_containers(run: RunResult) -> set[str]:
    if run.soak is None:
        return set()
    return {ref.removeprefix("container:") for s in run.soak.services for ref in s.objects
            if ref.startswith("container:")}


def _matches(container_id: str, full: dict[str, list[int]], short: dict[str, list[int]]) -> list[int]:
    if not container_id:
        return []
    if container_id in full:
        return full[container_id]
    # A short id (Falco's 12 characters, Tetragon's 31) names every container sharing its prefix.
    return [i for cid, rows in full.items() if cid.startswith(container_id) for i in rows] \
        if len(container_id) != 12 else short.get(container_id, [])


def _inside(alert: ExternalAlert, outcome: Outcome) -> bool:
    return outcome.started_at - WINDOW_SLACK_S <= alert.time <= outcome.finished_at + WINDOW_SLACK_S


def grade(run: RunResult, alerts: Sequence[ExternalAlert], mapping: DetectorMapping, *, source: str,
          unreadable: int = 0, problems: Iterable[str] = (), notes: Iterable[str] = ()) -> DetectorReport:
    report = DetectorReport(detector=mapping.detector, format=mapping.format, source=source, mapping=mapping.path,
                            about=mapping.about, alerts=len(alerts), ignored=dict(mapping.ignore),
                            unreadable=unreadable, problems=list(problems), notes=list(notes))
    full, short = _index(run)
    pods = _pods(run)
    fleet = _soak_containers(run)
    per_outcome: dict[int, list[ExternalAlert]] = {}
    unplaced: Counter[str] = Counter()
    soak: Counter[str] = Counter()
    for alert in alerts:
        rows = _matches(alert.container_id, full, short) or _pod_matches(alert, pods)
        rows = [i for i in rows if _inside(alert, run.outcomes[i])]
        if rows:
            report.attributed += 1
            for i in rows:
                per_outcome.setdefault(i, []).append(alert)
        elif alert.container_id and _in_soak(alert, run, fleet):
            report.attributed += 1
            if alert.rule not in mapping.ignore:
                soak[alert.rule] += 1
        else:
            unplaced[alert.rule] += 1
    report.unattributed = sum(unplaced.values())
    report.unattributed_rules = dict(unplaced.most_common(UNATTRIBUTED_RULES_KEPT))
    report.soak_false_positives = dict(sorted(soak.items()))
    report.results = [_judge(outcome, per_outcome.get(i, []), mapping) for i, outcome in enumerate(run.outcomes)]
    return report


def _in_soak(alert: ExternalAlert, run: RunResult, fleet: set[str]) -> bool:
    if run.soak is None or not any(cid.startswith(alert.container_id) for cid in fleet):
        return False
    return run.soak.started_at - WINDOW_SLACK_S <= alert.time <= run.soak.finished_at + WINDOW_SLACK_S


def _judge(outcome: Outcome, alerts: list[ExternalAlert], mapping: DetectorMapping) -> ExternalResult:
    judged = [a for a in alerts if a.rule not in mapping.ignore]
    fired = sorted({a.rule for a in judged})
    result = ExternalResult(scenario_id=outcome.scenario_id, kind=outcome.kind, verdict=ExternalVerdict.NOT_RUN,
                            reason="", fired=fired, variant_of=outcome.variant_of)
    if outcome.verdict in (Verdict.ERROR, Verdict.SKIPPED):
        result.reason = f"the scenario did not run to a verdict ({outcome.verdict.value})"
        return result
    if outcome.kind != "adversary":
        if fired:
            result.verdict, result.reason = ExternalVerdict.FALSE_POSITIVE, "alerted: " + ", ".join(fired)
        else:
            result.verdict, result.reason = ExternalVerdict.SILENT, "no alert on its objects in its window"
        return result
    expected = mapping.expected_for(outcome.scenario_id, outcome.variant_of)
    if expected is None:
        result.verdict = ExternalVerdict.NO_EXPECTATION
        result.reason = "the mapping names no rule for it" + (f"; alerted: {', '.join(fired)}" if fired else "")
        return result
    result.expected = list(expected.fires)
    first: dict[str, float] = {}
    for alert in judged:
        if alert.rule in expected.fires:
            first[alert.rule] = min(first.get(alert.rule, alert.time), alert.time)
    missing = [rule for rule in expected.fires if rule not in first]
    if missing:
        result.verdict = ExternalVerdict.MISSED
        result.reason = f"no alert from {', '.join(missing)} on its objects" + \
            (f"; alerted: {', '.join(fired)}" if fired else "")
        return result
    action = outcome.action_at or outcome.started_at
    result.latency_s = round(max(0.0, max(first.values()) - action), 3)
    result.verdict = ExternalVerdict.DETECTED
    result.reason = f"{', '.join(expected.fires)} alerted {result.latency_s:.2f}s after the action"
    return result


def report_from_dict(raw: Any, where: str) -> DetectorReport:
    """Rebuild a report from a scorecard. Raises ValueError naming the field (the JSON reader turns
    it into its own error type)."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object")
    results = [_result_from_dict(r, f"{where}.results[{i}]") for i, r in enumerate(raw.get("results", []))]
    try:
        return DetectorReport(
            detector=str(raw["detector"]), format=str(raw["format"]), source=str(raw["source"]),
            mapping=str(raw.get("mapping", "")), about=str(raw.get("about", "")), alerts=int(raw.get("alerts", 0)),
            attributed=int(raw.get("attributed", 0)), unattributed=int(raw.get("unattributed", 0)),
            unattributed_rules={str(k): int(v) for k, v in dict(raw.get("unattributed_rules", {})).items()},
            ignored={str(k): str(v) for k, v in dict(raw.get("ignored", {})).items()},
            unreadable=int(raw.get("unreadable", 0)), problems=[str(p) for p in raw.get("problems", [])],
            notes=[str(n) for n in raw.get("notes", [])],
            soak_false_positives={str(k): int(v) for k, v in dict(raw.get("soak_false_positives", {})).items()},
            results=results)
    except KeyError as exc:
        raise ValueError(f"{where}.{exc.args[0]}: missing") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _result_from_dict(raw: Any, where: str) -> ExternalResult:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object")
    try:
        verdict = ExternalVerdict(raw["verdict"])
    except KeyError:
        raise ValueError(f"{where}.verdict: missing") from None
    except ValueError:
        raise ValueError(f"{where}.verdict: {raw['verdict']!r} is not one of "
                         f"{', '.join(v.value for v in ExternalVerdict)}") from None
    latency = raw.get("latency_s")
    return ExternalResult(scenario_id=str(raw["scenario_id"]), kind=str(raw["kind"]), verdict=verdict,
                          reason=str(raw.get("reason", "")), expected=[str(r) for r in raw.get("expected", [])],
                          fired=[str(r) for r in raw.get("fired", [])],
                          latency_s=None if latency is None else float(latency),
                          variant_of=raw.get("variant_of"))
