"""New peer: a baselined service opens a connection its baseline has no trace of.

Which services: those the ``network-baseline`` policy monitors (by workload labels; the batch tier
in the shipped policy). Services nobody declared are not judged: no baseline, no claim.

What "the same service" is: ``detectors.identity.service_identity``: the identity the platform's pipeline
signed its image as (``image=platform/report-sync``), for a container that runs that image as it
was built, so a redeployed container with a new id keeps its baseline and nobody else can borrow
it. Any other container (no signature, or the signed base image started with a command of its own)
is known only by what it claims (``claimed:app=report-sync``).

The baseline of a signed service is the union of
- its stored baseline, a reviewed JSON file under the policy's ``stored_baselines`` directory
  (``{"service": "image=platform/report-sync", "peers": ["service:image=platform/ledger-db/tcp/5432"]}``),
- what it did during its warm-up: the first ``learn_seconds`` after the service was first seen
  (its first container start or first flow, whichever came first).
A claimed identity has neither: a stored baseline is a sanction, and a warm-up is trust, and both
are only given to what the pipeline signed. Every peer of an unsigned container in the monitored
scope is new.
A peer is named by ``net_common.peer_key``: an internal container by its service identity and port,
other internal addresses by network and port, anything outside as ``external/<transport>/<port>``.

After the warm-up, a flow to a peer outside the baseline raises an alert (once per container).
``learned()`` returns what was learned, in the stored format, so a user can review it and commit it.

Blind spots: whatever a signed service did during its warm-up is trusted (an implant in the
platform's own image, active from the first second, is learned as normal); new traffic to a peer of
an already-known kind (the same external port) is not new; services outside the monitored scope
(the scope is chosen by workload labels, so a batch job that does not carry ``tier: batch`` is not
held to a baseline) are never judged by this analytic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from detectors.alert import Alert
from detectors.analytics.base import About, AnalyticBase
from detectors.analytics.net_common import FLOW, is_flow, make_alert, peer_key
from detectors.event import Event
from detectors.policies import Policy
from detectors.policy_kinds.network_baseline import BaselinePolicy


def load_stored(directories: Iterable[Path]) -> dict[str, set[str]]:
    """Reviewed baselines: service identity -> peers. Raises ValueError naming a malformed file."""
    stored: dict[str, set[str]] = {}
    for directory in directories:
        for path in sorted(directory.glob("*.json")):
            try:
                data = json.loads(path.read_text())
                service, peers = data["service"], data["peers"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}: not a baseline file (need 'service' and 'peers'): {exc}") from exc
            if not isinstance(service, str) or not isinstance(peers, list):
                raise ValueError(f"{path}: 'service' must be a string and 'peers' a list")
            if not service.startswith("image="):
                # A reviewed baseline sanctions peers: it binds to what the pipeline signed, never to
                # a label any container can claim (see detectors.identity.service_identity).
                raise ValueError(f"{path}: 'service' must name a signed identity (image=<repository>), "
                                 f"not {service!r}")
            stored.setdefault(service, set()).update(str(p) for p in peers)
    return stored


_NONE: frozenset[str] = frozenset()  # no peers

ABOUT = About(
    rule_id="stowaway.analytic.net-new-peer",
    title="Baselined service talks to a peer outside its baseline",
    severity="medium",
    techniques=("T1071",),
    response=(
        "Ask the service owner whether the new peer is expected (a release can add one); if not, find the "
        "process (tracefs-tcp events) and what changed in the container (exec events, file diff)."),
    data_sources=("packets", "docker-events"),
)


class NewPeerAnalytic(AnalyticBase, about=ABOUT):
    # Every event of a monitored service starts its warm-up; a flow's peer is named by its zone.
    reads: ClassVar[tuple[str, ...] | None] = ("policy.baseline.",)
    reads_on: ClassVar[Mapping[str, tuple[str, ...]]] = {FLOW: ("policy.egress.destination_zone",)}

    def __init__(self, policy: Policy) -> None:
        section: BaselinePolicy = policy.section("network-baseline") or BaselinePolicy()
        self.learn_seconds = section.learn_seconds
        self.stored = load_stored(section.stored)
        self._first_seen: dict[str, float] = {}
        self._learned: dict[str, set[str]] = {}

    def _service(self, event: Event) -> str | None:
        if not event.get("policy.baseline.monitored"):
            return None
        return event.get("policy.baseline.service") or None

    def observe(self, event: Event) -> list[Alert]:
        service = self._service(event)
        if service is None:
            return []
        when = float(event.get("event.start") or event["event.created"])
        first = self._first_seen.setdefault(service, when)
        if not is_flow(event, "start"):
            return []
        peer = peer_key(event)
        signed = service.startswith("image=")
        if signed and when - first <= self.learn_seconds:
            self._learned.setdefault(service, set()).add(peer)
            return []
        stored = self.stored.get(service, _NONE) if signed else _NONE
        learned = self._learned.get(service, _NONE) if signed else _NONE
        if peer in stored or peer in learned:  # in the union, without building it for every flow
            return []
        known = stored | learned
        return [make_alert(self, event, [event["event.id"]], when, peer=peer, baseline=sorted(known),
                           warm_up_s=self.learn_seconds)]

    def tick(self, now: float) -> list[Alert]:
        return []

    def learned(self) -> list[dict[str, Any]]:
        """The warm-up baselines in the stored format, ready to review and commit."""
        return [{"service": service, "peers": sorted(peers), "learned_for_s": self.learn_seconds}
                for service, peers in sorted(self._learned.items())]
