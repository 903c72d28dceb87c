"""Triage context for one alert of a recorded run: what an analyst needs to decide, offline.

``stowaway explain-alert RUN_DIR [ALERT]`` reads a run written by ``stowaway run --record``
(``events.jsonl`` and ``run.json``, ``harness/recording.py``) and, for one of its alerts, says:

1. the workload: what the sensors saw of the object (image, its signature, privileges, mounts,
   networks, logging, labels, Swarm service, Kubernetes pod), and "not in the telemetry" for the rest;
2. who or what deployed it, as far as the telemetry says: the engine's create and start events, the
   Swarm service the orchestrator confirmed, the Kubernetes user and user agent of the audit log;
3. its recent process, network and file events before and around the alert, the evidence marked;
4. the other alerts on the object, and those on other objects running the same image id;
5. what could make it benign: the rule's false positives and benign twins (the ADS document's
   source, ``harness/ads.py``), the ``policy.*`` fields its condition reads, what the policy wrote on
   the evidence events and from which file, and for each sanction of those kinds the provenance it
   needs and whether the recorded events show it.

``triage`` is a pure function over what the loaders read (``alerts``, ``policy``); it returns a
frozen ``Triage`` (``model``) with ``to_dict``, and ``render`` writes it as text. Nothing in it is
made up: a field no event carried is said to be missing, never guessed.

Where the alerts come from: ``RUN_DIR/scorecard.json`` when it is there (the alerts as the run
raised them, or those of ``stowaway replay RUN_DIR --out RUN_DIR``), else a replay of the recording
with today's shipped rules and policy, and the output says which. For a Sigma rule, the rule is also
run again on each evidence event as the policy enriches it, with each yes/no policy field it reads
turned, to say which answer would have kept it silent; ``--policy DIR`` asks a draft policy instead.

Blind spots:

* the policy answers are today's policy (the shipped files, or ``--policy``) with the platform facts
  recorded in ``run.json``, not the policy the run had;
* Docker's and Swarm's events name no caller: who held the engine socket is not in any telemetry;
* a scorecard keeps only the alerts attributed to a scenario: an alert on an object no scenario
  owned (lab infrastructure, the soak's fleet) is not listed;
* a sanction's conditions beyond its provenance (ports, budgets, declared paths, privileges) are
  named, not evaluated here: the policy's own answer on the evidence event is what decides.
"""

from harness.triage.alerts import FROM_REPLAY, FROM_REPLAY_SCORECARD, FROM_SCORECARD, load_alerts, load_detector
from harness.triage.model import AROUND_S, NOT_SEEN, Fact, RunAlert, Triage, TriageError, shown, when
from harness.triage.policy import load_policy_context
from harness.triage.render import choose, listing, render, render_listing
from harness.triage.sections import about, triage

__all__ = [
    "AROUND_S",
    "FROM_REPLAY",
    "FROM_REPLAY_SCORECARD",
    "FROM_SCORECARD",
    "NOT_SEEN",
    "Fact",
    "RunAlert",
    "Triage",
    "TriageError",
    "about",
    "choose",
    "listing",
    "load_alerts",
    "load_detector",
    "load_policy_context",
    "render",
    "render_listing",
    "shown",
    "triage",
    "when",
]
