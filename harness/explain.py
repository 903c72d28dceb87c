"""`stowaway explain ID`: what a scenario does, its techniques, what must fire or stay silent, and why."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from harness.detector_catalog import DetectorInfo, all_detectors
from scenarios.api import Kind, Scenario
from scenarios.attack import catalog
from scenarios.registry import Registry
from scenarios.variants import space_size

WIDTH = 100


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(" ".join(text.split()), width=WIDTH, initial_indent=indent, subsequent_indent=indent)


def _detector(rule_id: str, info: DetectorInfo | None) -> list[str]:
    if info is None:
        return [f"  {rule_id}  (not among the loaded detectors)"]
    lines = [f"  {rule_id}  [{info.level}, {info.kind}]  {info.title}"]
    if info.description:
        lines.append(_wrap(info.description, "      "))
    if info.techniques:
        names = ", ".join(f"{t} {catalog().name(t)}" for t in info.techniques)
        lines.append(_wrap(f"ATT&CK: {names}", "      "))
    if info.falsepositives:
        lines.append(_wrap("False positives: " + "; ".join(info.falsepositives), "      "))
    if info.response:
        lines.append(_wrap("Response: " + info.response, "      "))
    lines.append(f"      Source: {info.source}")
    return lines


def explain(scenario_id: str, registry: Registry, rule_dirs: Sequence[Path] = (),
            policy_dirs: Sequence[Path] = ()) -> str:
    cls: type[Scenario] = registry.get(scenario_id)
    detectors = all_detectors(rule_dirs)
    attack = catalog()
    lines = [f"{cls.id}  ({cls.kind.value})", _wrap(cls.title), "", "What it does:", _wrap(cls.description), "",
             f"ATT&CK ({attack.domain} v{attack.version}):"]
    lines += [f"  {t:<10} {attack.name(t)}" for t in cls.techniques]
    lines += ["", f"Backends: {', '.join(cls.backends)}    Tags: {', '.join(cls.tags) or '-'}    "
                  f"Runs in parallel: {'yes' if cls.parallel_safe else 'no, alone'}", ""]
    if cls.dimensions:
        lines.append(f"Variation ({space_size(cls)} variants; the first value of each dimension is the canonical "
                     "run; `stowaway run --variants K --seed S` draws others):")
        for dimension in cls.dimensions:
            lines += [f"  {dimension.name}: {', '.join(str(v) for v in dimension.values)}",
                      _wrap(dimension.doc, "      ")]
        lines.append("")
    expect = cls.expect
    if cls.kind is Kind.ADVERSARY:
        lines.append(f"Must fire within {expect.within_s:g}s of its recorded action (else: missed):")
        for rule_id in expect.fires:
            lines += _detector(rule_id, detectors.get(rule_id))
        if expect.may_fire:
            lines += ["", "May also fire (allowed collateral, a true positive of the rule), because:"]
            for rule_id, reason in expect.may_fire.items():
                lines += [f"  {rule_id}", _wrap(reason, "      ")]
        lines.append(_wrap("Any other rule that alerts on this scenario's objects is unlisted collateral: a false "
                           "positive of that rule, which fails the run.", "  "))
    else:
        lines.append(f"Must stay silent for {expect.window_s:g}s after its recorded action (else: false positive):")
        for rule_id in expect.silent:
            lines += _detector(rule_id, detectors.get(rule_id))
        lines.append(_wrap("Any other detector that alerts on this scenario's objects counts as a false positive "
                           "too: an honest workload must stay quiet under every rule. Its sanctioned context "
                           "lives in the policy files (" + ", ".join(str(p) for p in policy_dirs or
                                                                   [Path("detectors/policy")]) + ").", "  "))
    if cls.twin:
        try:
            twin = registry.get(cls.twin)
        except KeyError:
            lines += ["", f"Twin: {cls.twin} (not loaded)"]
        else:
            lines += ["", f"Twin: {twin.id}  ({twin.kind.value})", _wrap(twin.title)]
            if twin.kind is Kind.BENIGN:
                lines.append(_wrap("The twin does the honest version of this for real; the same detectors must "
                                   "stay silent on it, which is what keeps them precise.", "  "))
            else:
                lines.append(_wrap("This is the honest look-alike of that adversary scenario; the detectors that "
                                   "catch it must not fire here.", "  "))
    lines += ["", f"Source: {sys.modules[cls.__module__].__file__}"]
    return "\n".join(lines)
