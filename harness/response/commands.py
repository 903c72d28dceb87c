"""``stowaway respond`` and ``stowaway release``: ask a running watch, print what it did.

Exit codes: 0 when the watch did it and proved it (contained and the evidence complete; released
and back), 1 when it acted but a proof failed (every check is printed), 2 for a request the watch
refused (no such alert, nothing held on that object, no watch running).
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from harness.watch_control import ControlError, ask, choose_watch
from lab import LabPaths


def _checks(lines: list[str], title: str, checks: list[str]) -> None:
    if checks:
        lines.append(f"  {title}:")
        lines.extend(f"    - {check}" for check in checks)


def render_response(answer: dict[str, Any]) -> str:
    """A respond answer in words: what acted on what, each check, the evidence, what is held."""
    r = answer["response"]
    lines = [f"alert {answer['alert']}: {r['trigger']} -> playbook {r['playbook']}: {r['action']} {r['object']}"]
    if answer.get("lab_run"):
        lines.append(f"  lab run {answer['lab_run']} (its lab internet proves the containment)")
    if r["action"] != "none":
        took = r.get("time_to_contain_s")
        lines.append(f"  contained: {'yes' if r['contained'] else 'NOT PROVED'}"
                     + (f", {took:.2f} s after the alert was raised" if took is not None else ""))
    _checks(lines, "checks", r.get("checks") or [])
    if r.get("evidence"):
        complete = "complete" if r.get("evidence_complete") else f"incomplete ({', '.join(r['evidence_missing'])})"
        lines.append(f"  evidence: {r['evidence']} ({complete}; sha256 {r['evidence_sha256'][:16]}...)")
    for related in r.get("related") or []:
        lines.append(f"  related: container {related['container'][:12]} ({', '.join(related['matched'])})")
    if r.get("error"):
        lines.append(f"  error: {r['error']}")
    if answer.get("held"):
        lines.append(f"  held until `stowaway release {r['object']}` (or the watch stops)")
    return "\n".join(lines)


def render_release(answer: dict[str, Any]) -> str:
    r = answer["response"]
    lines = [f"released {answer['object']}: {'back, proved' if answer['released'] else 'NOT PROVED back'}"]
    _checks(lines, "checks", r.get("release_checks") or [])
    return "\n".join(lines)


def _send(paths: LabPaths, watch_id: str | None, request: dict[str, Any]) -> dict[str, Any]:
    return ask(choose_watch(paths, watch_id), request)


def respond(alert: int, playbook: str | None, watch_id: str | None, as_json: bool, out: TextIO,
            paths: LabPaths | None = None) -> tuple[int, str]:
    """(exit code, error message or "") after asking the watch to respond to ``alert``."""
    try:
        answer = _send(paths or LabPaths.default(), watch_id, {"op": "respond", "alert": alert, "playbook": playbook})
    except ControlError as exc:
        return 2, str(exc)
    if not answer.get("ok"):
        return 2, str(answer.get("error"))
    out.write((json.dumps(answer, indent=2) if as_json else render_response(answer)) + "\n")
    response = answer["response"]
    proved = response["passed"] if not answer.get("held") else (
        not response.get("error") and not response.get("planted_missing")
        and (response["action"] == "none" or response["contained"]))
    return (0 if proved else 1), ""


def release(ref: str, watch_id: str | None, as_json: bool, out: TextIO,
            paths: LabPaths | None = None) -> tuple[int, str]:
    try:
        answer = _send(paths or LabPaths.default(), watch_id, {"op": "release", "object": ref})
    except ControlError as exc:
        return 2, str(exc)
    if not answer.get("ok"):
        return 2, str(answer.get("error"))
    out.write((json.dumps(answer, indent=2) if as_json else render_release(answer)) + "\n")
    return (0 if answer.get("released") else 1), ""
