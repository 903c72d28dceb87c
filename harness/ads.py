"""Alerting & Detection Strategy documents, one per detector, generated (`stowaway docs`).

The form is Palantir's ADS framework: Goal, Categorization, Strategy Abstract, Technical Context,
Blind Spots and Assumptions, False Positives, Validation, Priority, Response. Every Sigma rule in
the rule directories and every analytic in ``detectors.analytics.FACTORIES`` gets one.

Where the text comes from (see harness/detector_catalog.py for the optional attributes):

* Goal: ``goal``, else the title and the description's first sentence.
* Categorization: the ATT&CK tags, named from scenarios/attack.yaml (the pinned version).
* Strategy Abstract: the description, the logsource and the detection block as written.
* Technical Context: ``technical_context``, else what the logsource and the fields imply.
* Blind Spots and Assumptions: ``blindspots`` and ``assumptions``, else generic ones derived from
  the rule (policy exclusions, a single telemetry source).
* False Positives: ``falsepositives``, plus the benign twins that keep the detector honest.
* Validation: the scenarios whose expectations name the detector (fires or stays silent), with the
  latest result for each from reports/scorecard.json when there is one.
* Priority: from the level. Response: ``response``.

Regenerate after changing a rule or a scenario; the documents are derived, never edited by hand.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from harness.detector_catalog import DetectorInfo, all_detectors
from scenarios.api import Kind
from scenarios.attack import catalog
from scenarios.registry import Registry

PRIORITY = {  # Sigma level -> triage priority, the way a SOC queue would order them
    "critical": "P1 - page the on-call responder now",
    "high": "P2 - triage within the hour",
    "medium": "P3 - triage the same day",
    "low": "P4 - review in the daily queue",
    "informational": "P5 - context only; no triage on its own",
}
SENSOR_OF_DATASET = {
    "docker.events": "the Docker events sensor (engine event stream joined with `docker inspect` data)",
}


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text.split(". ")[0].rstrip(".") + "." if text else ""


def _bullets(items: Sequence[str], empty: str) -> list[str]:
    return [f"- {' '.join(item.split())}" for item in items] if items else [f"- {empty}"]


def _policy_fields(detection: Any) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and key.startswith("policy.") and key not in found:
                    found.append(key.split("|")[0])
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(detection)
    return found


def _fields(detection: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and key != "condition" and "." in key:
                    name = key.split("|")[0]
                    if name not in found:
                        found.append(name)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in detection.items() if k != "condition"})
    return found


def validation_scenarios(rule_id: str, registry: Registry) -> dict[str, list[str]]:
    """Scenario ids whose expectations name the rule: {"fires": [...], "silent": [...]}."""
    found: dict[str, list[str]] = {"fires": [], "silent": []}
    for cls in registry.all():
        if rule_id in cls.expect.fires:
            found["fires"].append(cls.id)
        if rule_id in cls.expect.silent:
            found["silent"].append(cls.id)
    return found


def _latest(scenario_id: str, rule_id: str, scorecard: dict[str, Any] | None) -> str:
    if not scorecard:
        return "no result yet (no scorecard)"
    for outcome in scorecard.get("outcomes", []):
        if outcome.get("scenario_id") != scenario_id:
            continue
        rule = next((r for r in outcome.get("rules", []) if r.get("rule_id") == rule_id), None)
        verdict = outcome.get("verdict", "?")
        detail = ""
        if rule is not None and rule.get("fired") and rule.get("latency_s") is not None:
            detail = f", fired after {rule['latency_s']:.2f} s"
        elif rule is not None and not rule.get("fired"):
            detail = ", did not fire"
        return f"**{verdict}**{detail} in run `{scorecard.get('run_id', '?')}` ({scorecard.get('finished_at', '?')})"
    return f"not in the latest run (`{scorecard.get('run_id', '?')}`)"


def render(info: DetectorInfo, registry: Registry, scorecard: dict[str, Any] | None = None) -> str:
    attack = catalog()
    lines = [f"# {info.title}", "",
             f"`{info.rule_id}` ({'Sigma rule' if info.kind == 'sigma' else 'Python analytic'}, "
             f"level **{info.level}**{', status ' + info.status if info.status else ''}) - "
             f"source `{_relative(info.source)}`", "",
             "<!-- Generated by `stowaway docs` from the detector's metadata and the scenarios' expectations. "
             "Do not edit: change the rule, then regenerate. -->", ""]

    lines += ["## Goal", "", info.goal or f"Raise an alert on: {info.title.rstrip('.')}. {_sentence(info.description)}",
              ""]

    lines += ["## Categorization", "", f"MITRE ATT&CK ({attack.domain} v{attack.version}):", ""]
    lines += [f"- [{t}] {attack.name(t)}" for t in info.techniques] or ["- no technique tag"]
    if info.tactics:
        lines += ["", "Tactics: " + ", ".join(info.tactics)]
    lines += [""]

    lines += ["## Strategy Abstract", "", " ".join(info.description.split()) or "(no description)", ""]
    if info.kind == "sigma":
        source = ", ".join(f"{k} `{v}`" for k, v in info.logsource.items()) or "any"
        lines += [f"Telemetry: logsource {source}. Each event is first enriched with the platform team's policy "
                  "(`policy.*` fields), then the detection below is evaluated; an alert is raised once per "
                  "(rule, object), later matches add to its count.", "", "```yaml",
                  yaml.safe_dump({"detection": info.detection}, sort_keys=False).rstrip(), "```", ""]
    else:
        lines += [f"A stateful Python analytic over events from: {', '.join(info.data_sources) or 'any sensor'}. "
                  "It sees every enriched event in order and a clock tick once a second.", ""]

    lines += ["## Technical Context", ""]
    if info.technical_context:
        lines += [" ".join(info.technical_context.split()), ""]
    else:
        dataset = "{product}.{service}".format(**info.logsource) if {"product", "service"} <= set(info.logsource) \
            else None
        sensor = SENSOR_OF_DATASET.get(dataset or "", f"the sensors feeding `{dataset}`" if dataset else
                                       f"the sensors {', '.join(info.data_sources) or '(unspecified)'}")
        fields = _fields(info.detection)
        lines += [f"The events come from {sensor}. Fields are flat ECS-style dotted names"
                  + (": " + ", ".join(f"`{f}`" for f in fields) if fields else "") + ".", ""]

    lines += ["## Blind Spots and Assumptions", ""]
    spots = list(info.blindspots) + list(info.assumptions)
    policy = _policy_fields(info.detection)
    if policy:
        spots.append(f"Anything the policy files sanction ({', '.join(policy)}) is excluded by design: an adversary "
                     "who can deploy into a sanctioned context is not seen by this detector.")
    if not info.blindspots:
        spots.append("The detector sees only what its telemetry reports; activity on an engine or host without "
                     "the sensor attached is invisible to it.")
    lines += [*_bullets(spots, "none documented"), ""]

    scenarios = validation_scenarios(info.rule_id, registry)
    lines += ["## False Positives", "", *_bullets(info.falsepositives, "none documented")]
    if scenarios["silent"]:
        lines += ["", "Benign twins that must stay silent under it (run by the harness on every CI run):", ""]
        lines += [f"- `{s}`: {registry.get(s).title}" for s in scenarios["silent"]]
    lines += [""]

    lines += ["## Validation", ""]
    if not scenarios["fires"] and not scenarios["silent"]:
        lines += ["No scenario names this detector yet: it is **unvalidated**. Add an adversary scenario "
                  "whose `expect.fires` names it, and a benign twin.", ""]
    else:
        lines += ["| scenario | kind | expectation | latest result |", "|---|---|---|---|"]
        for role, ids in (("fires", scenarios["fires"]), ("silent", scenarios["silent"])):
            for scenario_id in ids:
                cls = registry.get(scenario_id)
                want = (f"fires within {cls.expect.within_s:g} s" if role == "fires"
                        else f"silent for {cls.expect.window_s:g} s")
                lines.append(f"| `{scenario_id}` | {cls.kind.value} | {want} | "
                             f"{_latest(scenario_id, info.rule_id, scorecard)} |")
        first = scenarios["fires"] + scenarios["silent"]
        lines += ["", f"Reproduce: `stowaway run {' '.join(first)}`", ""]
        for scenario_id in scenarios["fires"]:
            lines += [f"`{scenario_id}`: {' '.join(registry.get(scenario_id).description.split())}", ""]

    lines += ["## Priority", "", f"{info.level}: {PRIORITY.get(info.level, 'unrated')}", ""]
    lines += ["## Response", "", " ".join(info.response.split()) or "No response guidance in the rule yet.", ""]
    return "\n".join(lines)


def _relative(source: str) -> str:
    """Repository-relative paths: the documents are committed and read on other machines."""
    root = Path(__file__).resolve().parent.parent
    try:
        return str(Path(source).resolve().relative_to(root))
    except ValueError:
        return source


def _filename(rule_id: str) -> str:
    return rule_id.replace("/", "_") + ".md"


def write_docs(out_dir: str | os.PathLike[str], registry: Registry, rule_dirs: Sequence[Path] = (),
               scorecard: dict[str, Any] | None = None, scorecard_path: Path | None = None) -> list[Path]:
    """Write one document per detector and an index (README.md). Returns the paths, index last."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    rows = []
    for info in sorted(all_detectors(rule_dirs).values(), key=lambda d: d.rule_id):
        path = out / _filename(info.rule_id)
        path.write_text(render(info, registry, scorecard), encoding="utf-8")
        written.append(path)
        proofs = validation_scenarios(info.rule_id, registry)
        adversary = [s for s in proofs["fires"] if registry.get(s).kind is Kind.ADVERSARY]
        rows.append(f"| [{info.rule_id}]({path.name}) | {info.kind} | {info.level} | {', '.join(info.techniques)} | "
                    f"{len(adversary)} adversary, {len(proofs['silent'])} benign |")
    attack = catalog()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    source = f" Latest results from `{scorecard_path}` (run `{scorecard.get('run_id')}`)." if scorecard else ""
    index = [
        "# Detection strategies", "",
        f"One Alerting & Detection Strategy document per detector, generated by `stowaway docs` on {stamp}. "
        f"Technique ids refer to ATT&CK {attack.domain} v{attack.version}.{source}", "",
        "| detector | kind | level | ATT&CK | validated by |", "|---|---|---|---|---|", *rows, "",
        "## Optional rule attributes for these documents", "",
        "Sigma allows custom top-level attributes (pySigma keeps them as custom attributes). A rule file, or "
        "an analytic class as a ClassVar of the same name, may carry:", "",
        "- `goal`: one paragraph, the behaviour the detector exists to catch.",
        "- `technical_context`: how the telemetry arises and what its fields mean.",
        "- `blindspots`: a list of places it cannot see.",
        "- `assumptions`: a list of what it takes for granted about the platform.",
        "- `response`: what a responder does first (also carried by every alert).", "",
        "Each falls back to text derived from the rule's logsource, detection and level when absent.", "",
    ]
    index_path = out / "README.md"
    index_path.write_text("\n".join(index), encoding="utf-8")
    written.append(index_path)
    return written
