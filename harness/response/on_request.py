"""Responses an analyst asks a running ``stowaway watch`` for: ``stowaway respond ALERT`` and
``stowaway release OBJECT`` (through ``harness.watch_control``).

The watch numbers its alerts (``id`` on each JSON line). ``respond`` takes one of them, finds the
playbook (the one named, else the auto playbook its rule triggers, else an on-request one) and runs
the responder as ``run --respond`` does, with one difference: what it contained **stays contained**
until ``release`` names it, or the watch stops (which releases everything it still holds and says
so: a watch leaves nothing behind, like a run). Each answer carries the response as the scorecards
show it: the checks that proved the containment, the evidence bundle and its manifest's verdict,
the related containers, and on release the checks that proved the workload back.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detectors.alert import Alert
from harness.response.live import LiveSession
from harness.response.playbooks import Playbook, first_match
from harness.response.responder import Responder
from harness.response.window import EventWindow
from harness.triage.live import LiveEvents
from harness.triage.model import Triage

LOOKBACK_S = 300.0  # the events before an alert its evidence bundle covers (bounded by the watch's start)


class OnRequest:
    """The watch's side: the alerts it raised (by number), and a responder that keeps containments."""

    def __init__(self, live: LiveSession, playbooks: Sequence[Playbook], window: EventWindow, evidence_dir: Path,
                 started_at: float | None = None, events: LiveEvents | None = None) -> None:
        self.live, self.playbooks, self.window, self.events = live, list(playbooks), window, events
        self.evidence_dir = evidence_dir
        self.started_at = time.time() if started_at is None else started_at
        self.responder = Responder(live, [], window, evidence_dir)
        self._alerts: dict[int, Alert] = {}
        self._lock = threading.Lock()

    def number(self, alert: Alert) -> int:
        """Remember an alert the watch raised; its number (what ``stowaway respond`` takes)."""
        with self._lock:
            number = len(self._alerts) + 1
            self._alerts[number] = alert
            return number

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "respond":
            return self._respond(request)
        if op == "release":
            return self._release(request)
        if op == "explain":
            return self._explain(request)
        if op == "status":
            return {"ok": True, "run_id": self.live.run_id, "alerts": len(self._alerts),
                    "held": [{"object": ref, "action": h.result.action, "playbook": h.result.playbook,
                              "contained_at": h.result.contained_at} for ref, h in self.responder.held.items()],
                    "evidence_dir": str(self.evidence_dir)}
        return {"ok": False, "error": f"op {op!r}: one of respond, release, explain, status"}

    def alerts(self) -> list[Alert]:
        with self._lock:
            return list(self._alerts.values())

    def explain(self, alert: Alert, limit: int = 8) -> Triage | None:
        """The triage of one of this watch's alerts over the events it kept (None: it keeps none)."""
        return None if self.events is None else self.events.explain(alert, self.alerts(), limit=limit)

    def _explain(self, request: dict[str, Any]) -> dict[str, Any]:
        number, limit = request.get("alert"), request.get("events", 8)
        with self._lock:
            alert = self._alerts.get(number) if isinstance(number, int) else None
            raised = len(self._alerts)
        if alert is None:
            return {"ok": False, "error": f"no alert {number!r} in this watch (it has raised {raised}: 1..{raised})"}
        if not isinstance(limit, int) or limit < 1:
            return {"ok": False, "error": f"events: a whole number of at least 1, not {limit!r}"}
        found = self.explain(alert, limit)
        if found is None:
            return {"ok": False, "error": "this watch keeps no events to explain an alert with"}
        return {"ok": True, "alert": number, "triage": found.to_dict(), "text": found.render()}

    def _playbook(self, alert: Alert, name: str | None) -> Playbook | str:
        if name:
            named = next((p for p in self.playbooks if p.name == name), None)
            if named is None:
                return f"no playbook {name!r} (there are: {', '.join(sorted(p.name for p in self.playbooks))})"
            if not named.triggered_by(alert.rule_id):
                # Asked for by name: the analyst decides, the answer says the rule is not among its triggers.
                return dataclasses.replace(named, triggers=(*named.triggers, alert.rule_id), mode="auto")
            return dataclasses.replace(named, mode="auto")
        chosen = first_match(self.playbooks, [alert.rule_id]) or \
            first_match(self.playbooks, [alert.rule_id], mode="on-request")
        if chosen is None:
            return (f"no playbook is triggered by {alert.rule_id}: name one with --playbook "
                    f"({', '.join(sorted(p.name for p in self.playbooks))})")
        return dataclasses.replace(chosen, mode="auto")

    def _respond(self, request: dict[str, Any]) -> dict[str, Any]:
        number = request.get("alert")
        with self._lock:
            alert = self._alerts.get(number) if isinstance(number, int) else None
            raised = len(self._alerts)
        if alert is None:
            return {"ok": False, "error": f"no alert {number!r} in this watch (it has raised {raised}: 1..{raised})"}
        playbook = self._playbook(alert, request.get("playbook"))
        if isinstance(playbook, str):
            return {"ok": False, "error": playbook}
        if alert.object in self.responder.held:
            return {"ok": False, "error": f"{alert.object} is contained already: `stowaway release {alert.object}`"}
        run = self.live.focus(alert.object)
        self.responder.playbooks = [playbook]
        since = max(self.started_at, alert.first_seen - LOOKBACK_S)
        result = self.responder.respond([alert], [], [alert.object, *self.live.service_refs()], since, keep=True)
        if result is None:  # the alert names no container nor service: nothing to act on
            return {"ok": False, "error": f"alert {number} is on {alert.object}: a response acts on a container "
                                          "or a Swarm service"}
        return {"ok": True, "alert": number, "lab_run": run, "held": result.object in self.responder.held,
                "response": result.to_dict()}

    def _release(self, request: dict[str, Any]) -> dict[str, Any]:
        ref = str(request.get("object") or "")
        if ":" not in ref:
            return {"ok": False, "error": f"object {ref!r}: a ref such as container:<id> or service:<id>"}
        key = next((k for k in self.responder.held if k.partition(":")[0] == ref.partition(":")[0]
                    and k.partition(":")[2].startswith(ref.partition(":")[2])), ref)
        self.live.focus(key)
        try:
            result = self.responder.release_held(ref)
        except KeyError as exc:
            return {"ok": False, "error": str(exc.args[0])}
        return {"ok": True, "object": result.object, "released": result.released, "response": result.to_dict()}

    def close(self) -> list[str]:
        """Release whatever is still held (proved, as ``release`` would), then remove what
        containing made; what was released and the problems, in words."""
        said = []
        for ref in list(self.responder.held):
            self.live.focus(ref)
            try:
                result = self.responder.release_held(ref)
                said.append(f"released {ref} ({'proved' if result.released else 'NOT proved'}: "
                            f"{'; '.join(result.release_checks)})")
            except Exception as exc:
                said.append(f"release of {ref} failed: {type(exc).__name__}: {exc}")
        return said + self.live.close()
