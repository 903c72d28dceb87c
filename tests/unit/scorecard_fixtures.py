"""A realistic run for the scorecard and gate tests.

Five techniques, adversary scenarios with their benign twins: five adversary detections, one miss
(the sensors logged it, no rule fired) that leaves T1036.005 half covered, one false positive on a
sanctioned rollout, one skip.
Timestamps are fixed so rendered output is stable.
"""

from __future__ import annotations

import hashlib
from typing import Any

from harness.outcome import Collateral, FleetService, Outcome, RuleResult, RunResult, SoakResult, Verdict, Visibility

RUN_START = 1764403200.0  # 2025-11-29T08:00:00Z
ATTACK_VERSION = "18"

# Names a test can assert on without restating the fixture.
MISSED_ID = "docker.masquerade.kworker-from-tmp"
FALSE_POSITIVE_ID = "docker.deploy.sanctioned-rollout"
FALSE_POSITIVE_RULE = "stowaway.docker.unapproved-image"
SKIPPED_ID = "docker.escape.host-pid-nsenter"
DETECTED_IDS = (
    "docker.logging.log-driver-none",
    "docker.deploy.unapproved-image",
    "docker.escape.docker-socket-mount",
    "docker.masquerade.nginx-from-tmp",
    "docker.resources.cpu-miner",
)


def _container(scenario_id: str) -> str:
    # Stable across processes (unlike hash()), so rendered output does not change between runs.
    return "container:" + hashlib.sha256(scenario_id.encode()).hexdigest()[:12]


def _alert(
    rule_id: str, title: str, techniques: list[str], obj: str, at: float, severity: str = "high"
) -> dict[str, Any]:
    return {
        "rule_id": rule_id,
        "title": title,
        "severity": severity,
        "techniques": techniques,
        "object": obj,
        "evidence": [f"evt-{int(at * 1000) % 100000:05d}"],
        "first_seen": at - 0.2,
        "raised_at": at,
        "response": "Inspect the container and its image provenance; stop it if unsanctioned.",
        "source": "analytic" if "resources" in rule_id else "sigma",
        "context": {"container.image.name": "lab/base:latest"},
    }


def _adversary(
    offset: float,
    scenario_id: str,
    title: str,
    techniques: list[str],
    rules: dict[str, float | None],
    sources: list[str],
    verdict: Verdict = Verdict.DETECTED,
    reason: str = "",
) -> Outcome:
    start = RUN_START + offset
    action = start + 3.0
    fired = {rule: lat for rule, lat in rules.items() if lat is not None}
    container = _container(scenario_id)
    results = [
        RuleResult(rule, lat is not None, lat, 1 if lat is not None else 0) for rule, lat in rules.items()
    ]
    return Outcome(
        scenario_id=scenario_id,
        title=title,
        kind="adversary",
        techniques=techniques,
        backend="docker",
        verdict=verdict,
        reason=reason or f"every expected rule fired ({', '.join(fired)}) within its deadline",
        visibility=Visibility.ALERTED if fired else (Visibility.LOGGED if sources else Visibility.NONE),
        started_at=start,
        action_at=action,
        finished_at=action + 25.0,
        latency_s=max(fired.values()) if verdict is Verdict.DETECTED else None,
        rules=results,
        alerts=[_alert(r, title, techniques, container, action + lat) for r, lat in fired.items()],
        data_sources=sources,
        objects=[container],
    )


def _benign(
    offset: float,
    scenario_id: str,
    title: str,
    techniques: list[str],
    watched: list[str],
    sources: list[str],
    fired: tuple[str, ...] = (),
) -> Outcome:
    start = RUN_START + offset
    action = start + 2.0
    container = _container(scenario_id)
    verdict = Verdict.FALSE_POSITIVE if fired else Verdict.SILENT
    return Outcome(
        scenario_id=scenario_id,
        title=title,
        kind="benign",
        techniques=techniques,
        backend="docker",
        verdict=verdict,
        reason=(
            f"watched rule {', '.join(fired)} fired on a sanctioned workload"
            if fired
            else "the watched rules stayed quiet for the whole 8 s window"
        ),
        visibility=Visibility.ALERTED if fired else Visibility.LOGGED,
        started_at=start,
        action_at=action,
        finished_at=action + 8.0,
        latency_s=None,
        rules=[RuleResult(r, r in fired, 1.1 if r in fired else None, int(r in fired)) for r in watched],
        alerts=[_alert(r, title, techniques, container, action + 1.1, "medium") for r in fired],
        data_sources=sources,
        objects=[container],
    )


def outcomes() -> list[Outcome]:
    return [
        _adversary(
            0,
            "docker.logging.log-driver-none",
            "Container started with log driver none",
            ["T1562.001"],
            {"stowaway.docker.log-driver-none": 1.4},
            ["docker-events"],
        ),
        _benign(
            30,
            "docker.logging.dev-minimal-logging",
            "Sanctioned dev container with minimal logging",
            ["T1562.001"],
            ["stowaway.docker.log-driver-none"],
            ["docker-events"],
        ),
        _adversary(
            45,
            "docker.deploy.unapproved-image",
            "Container from an image built on the host",
            ["T1610"],
            {"stowaway.docker.unapproved-image": 2.1},
            ["docker-events", "tracefs-exec"],
        ),
        _benign(
            75,
            FALSE_POSITIVE_ID,
            "Approved rollout of a sanctioned image",
            ["T1610"],
            [FALSE_POSITIVE_RULE],
            ["docker-events"],
            fired=(FALSE_POSITIVE_RULE,),
        ),
        _adversary(
            90,
            "docker.escape.docker-socket-mount",
            "Container mounts the docker socket and starts a sibling",
            ["T1611", "T1610"],
            {"stowaway.docker.socket-mount": 0.9, "stowaway.docker.sibling-container": 3.2},
            ["docker-events", "tracefs-exec", "fim"],
        ),
        _adversary(
            120,
            SKIPPED_ID,
            "nsenter into the host PID namespace",
            ["T1611"],
            {"stowaway.exec.nsenter-host": None},
            [],
            verdict=Verdict.SKIPPED,
            reason="the engine refuses --pid=host here (rootless dockerd); cannot run",
        ),
        _adversary(
            125,
            MISSED_ID,
            "kworker look-alike runs from /tmp",
            ["T1036.005"],
            {"stowaway.exec.masquerade-kernel-thread": None},
            ["tracefs-exec", "fim"],
            verdict=Verdict.MISSED,
            reason="stowaway.exec.masquerade-kernel-thread did not fire within 20 s (the exec was logged)",
        ),
        _adversary(
            140,
            "docker.masquerade.nginx-from-tmp",
            "Dropped binary named nginx runs from /tmp",
            ["T1036.005"],
            {"stowaway.exec.binary-from-tmp": 0.6},
            ["tracefs-exec", "fim"],
        ),
        _benign(
            155,
            "docker.masquerade.real-nginx",
            "The real nginx from its package path",
            ["T1036.005"],
            ["stowaway.exec.masquerade-kernel-thread", "stowaway.exec.binary-from-tmp"],
            ["tracefs-exec"],
        ),
        _adversary(
            170,
            "docker.resources.cpu-miner",
            "Miner-like sustained CPU and stratum beacons",
            ["T1496"],
            {"stowaway.resources.cpu-spike": 14.8},
            ["cgroup-resources", "packet-capture"],
        ),
        _benign(
            230,
            "docker.resources.peak-hours-spike",
            "Expected peak-hours spike of a known workload",
            ["T1496"],
            ["stowaway.resources.cpu-spike"],
            ["cgroup-resources"],
        ),
    ]


def make_run(run_id: str = "run-20251129-0800-a1b2", **overrides: Any) -> RunResult:
    items = outcomes()
    fields: dict[str, Any] = {
        "run_id": run_id,
        "attack_version": ATTACK_VERSION,
        "backend": "docker",
        "started_at": RUN_START,
        "finished_at": max(o.finished_at for o in items) + 2.0,
        "outcomes": items,
        "status": "complete",
        "environment": {"engine": "dockerd 26.1.5 (embedded)", "kernel": "6.1.0-27-amd64"},
    }
    fields.update(overrides)
    return RunResult(**fields)


def clean_run(run_id: str = "run-clean") -> RunResult:
    """A passing run: the false positive fixed (silent), the miss detected, the skipped scenario run
    and detected (a skip is not a pass), nothing else changed."""
    run = make_run(run_id)
    for outcome in run.outcomes:
        if outcome.scenario_id == SKIPPED_ID:
            outcome.verdict = Verdict.DETECTED
            outcome.reason = "stowaway.exec.nsenter-host fired after 1.20s"
            outcome.latency_s = 1.2
            outcome.visibility = Visibility.ALERTED
            outcome.rules = [RuleResult("stowaway.exec.nsenter-host", True, 1.2, 1)]
            outcome.data_sources = ["tracefs-exec"]
        if outcome.scenario_id == FALSE_POSITIVE_ID:
            outcome.verdict = Verdict.SILENT
            outcome.reason = "the watched rules stayed quiet for the whole 8 s window"
            outcome.alerts = []
            outcome.rules = [RuleResult(FALSE_POSITIVE_RULE, False)]
        if outcome.scenario_id == MISSED_ID:
            outcome.verdict = Verdict.DETECTED
            outcome.latency_s = 1.7
            outcome.visibility = Visibility.ALERTED
            outcome.rules = [RuleResult("stowaway.exec.masquerade-kernel-thread", True, 1.7, 1)]
    return run


# --- collateral and the soak -------------------------------------------------------------------
# Constructed by hand, not recorded: the soak's fleet is built elsewhere, and these shapes are what
# it reports (harness/outcome.py SoakResult / FleetService).

ALLOWED_ID = "docker.logging.log-driver-none"  # its payload sends to the lab internet: allowed
ALLOWED_RULE = "stowaway.net.process-egress-not-allowlisted"
ALLOWED_REASON = "Its payload really sends host details to the sinkhole on the lab internet."
UNLISTED_ID = "docker.masquerade.nginx-from-tmp"
UNLISTED_RULE = "stowaway.host.drop-and-execute"
SOAK_RULES = (ALLOWED_RULE, "stowaway.net.egress-not-allowlisted")


def soak(alerts: int = 2) -> SoakResult:
    """A hand-made soak: two services, ALERTS false positives (one per rule of SOAK_RULES, cycling)."""
    start = RUN_START + 300.0
    services = [
        FleetService(name="web", does="nginx serving the shop's pages behind the LAN load balancer",
                     objects=["container:" + "a" * 12], checks=["412 requests answered 200", "access log shipped"]),
        FleetService(name="ledger-db", does="postgres taking the nightly batch's writes",
                     objects=["container:" + "b" * 12], checks=["1,200 rows committed"]),
    ]
    found = [_alert(SOAK_RULES[i % len(SOAK_RULES)], "egress", ["T1090"], services[i % 2].objects[0],
                    start + 60.0 * (i + 1), "medium") for i in range(alerts)]
    return SoakResult(minutes=10.0, started_at=start, finished_at=start + 600.0, status="complete",
                      reason=f"two services ran for 10 minutes; {alerts} alert(s)", services=services, alerts=found)


def judged_run(run_id: str = "run-judged", with_soak: bool = True) -> RunResult:
    """make_run() plus collateral on two adversaries (one allowed, one unlisted) and a soak."""
    run = make_run(run_id)
    for outcome in run.outcomes:
        obj = outcome.objects[0]
        if outcome.scenario_id == ALLOWED_ID:
            outcome.alerts.append(_alert(ALLOWED_RULE, "egress", ["T1041"], obj, outcome.finished_at - 20))
            outcome.collateral = [Collateral(ALLOWED_RULE, obj, allowed=True, reason=ALLOWED_REASON)]
        if outcome.scenario_id == UNLISTED_ID:
            outcome.alerts.append(_alert(UNLISTED_RULE, "drop", ["T1105"], obj, outcome.finished_at - 20))
            outcome.collateral = [Collateral(UNLISTED_RULE, obj, allowed=False)]
    if with_soak:
        run.soak = soak()
    return run


def external_run(run_id: str = "run-external") -> RunResult:
    """judged_run() graded on a second detector too: one adversary caught, one missed, one without an
    expectation, a twin alerted on, one alert on no lab object, an ignored rule."""
    from harness.external.alert import ExternalAlert
    from harness.external.grading import grade
    from harness.external.mapping import DetectorMapping, Expected

    run = judged_run(run_id)
    adversaries = [o for o in run.outcomes if o.kind == "adversary" and o.verdict.value in ("detected", "missed")]
    twin = next(o for o in run.outcomes if o.kind == "benign")
    caught, missed = adversaries[0], adversaries[1]
    mapping = DetectorMapping(detector="falco", format="falco", path="maps/falco.yaml", about="Falco <0.40>",
                              expect={caught.scenario_id: Expected(fires=("Terminal shell in container",)),
                                      missed.scenario_id: Expected(fires=("Launch Privileged Container",))},
                              ignore={"Container Drift": "fires on every package install"})

    def on(outcome: Outcome, rule: str) -> ExternalAlert:
        container = outcome.objects[0].removeprefix("container:")
        return ExternalAlert(detector="falco", rule=rule, time=(outcome.action_at or outcome.started_at) + 1.5,
                             container_id=container[:12])

    alerts = [on(caught, "Terminal shell in container"), on(twin, "Read sensitive file untrusted"),
              on(twin, "Container Drift"), ExternalAlert(detector="falco", rule="Host | rule\x1b", time=1.0)]
    run.external = [grade(run, alerts, mapping, source="file:/var/log/falco.jsonl", unreadable=1,
                          problems=["file:/var/log/falco.jsonl:7: rule: missing"], notes=["note <b>"])]
    return run


def responded_run(run_id: str = "run-respond") -> RunResult:
    """make_run() with a response on two detected adversaries: one proved, one whose evidence lacks a
    planted hash and whose release could not be proved."""
    from harness.outcome import ResponseResult

    run = make_run(run_id)
    detected = [o for o in run.outcomes if o.kind == "adversary" and o.verdict is Verdict.DETECTED]
    good, bad = detected[0], detected[1]
    good.response = ResponseResult(
        playbook="contain-egress", trigger="stowaway.analytic.net-beacon", object=good.objects[0],
        action="quarantine", alert_at=1000.0, contained_at=1000.8, contained=True,
        checks=["a connection from inside to 198.19.0.5:443 failed"], evidence="/tmp/e/a.tar.gz",
        evidence_sha256="ab" * 32, evidence_complete=True, planted=["destination:198.19.0.5:443/tcp"],
        related=[{"container": "c" * 64, "matched": ["destination:198.19.0.5:443/tcp"], "same_scenario": True}],
        released=True, release_checks=["its networks and addresses are back (lan 198.18.0.7)"])
    bad.response = ResponseResult(
        playbook="contain-dropped-payload", trigger="stowaway.host.drop-and-execute", object=bad.objects[0],
        action="pause", alert_at=2000.0, contained_at=2001.5, contained=True, checks=["the engine reports it paused"],
        evidence="/tmp/e/b.tar.gz", evidence_complete=True, planted=["sha256:" + "0" * 64],
        planted_missing=["sha256:" + "0" * 64], released=False,
        release_checks=["the engine reports it paused\x1b[0m"])
    return run
