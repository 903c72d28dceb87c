"""Network rules and analytics on events recorded from the real engine during the network scenarios.

Each fixture holds the events the network sensors (and the docker events sensor) emitted for one
scenario's containers, with the policy fields stripped: the tests enrich them again with the shipped
policy, so a policy change shows up here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectors.analytics.net_baseline import NewPeerAnalytic, load_stored
from detectors.analytics.net_beacon import BeaconAnalytic, periodicity
from detectors.analytics.net_relay import RelayAnalytic
from detectors.analytics.net_volume import VolumeAnalytic
from detectors.engine import load_rules
from detectors.policies import DEFAULT_POLICY_DIR, load_policy

NET = Path(__file__).parent.parent / "fixtures" / "net"
POLICY = load_policy([DEFAULT_POLICY_DIR])
RULES = load_rules()


def events(name: str) -> list[dict]:
    recorded = json.loads((NET / f"{name}.events.json").read_text())
    return [POLICY.enrich(dict(event)) for event in recorded]


def rule_hits(name: str) -> dict[str, set[str]]:
    hits: dict[str, set[str]] = {}
    for event in events(name):
        for rule in RULES.match(event):
            hits.setdefault(rule.rule_id, set()).add(event.get("container.name", ""))
    return hits


def analytic_hits(analytic_cls, name: str) -> list:
    analytic = analytic_cls(POLICY)
    return [alert for event in events(name) for alert in analytic.observe(event)]


NET_RULES = ("stowaway.net.egress-not-allowlisted", "stowaway.net.process-egress-not-allowlisted",
             "stowaway.net.nat-redirect-external", "stowaway.net.name-hijack")


@pytest.mark.parametrize(("fixture", "rule_id"), [
    ("nat_redirect", "stowaway.net.nat-redirect-external"),
    ("name_hijack", "stowaway.net.name-hijack"),
    ("relay", "stowaway.net.egress-not-allowlisted"),
    ("exfil_burst", "stowaway.net.egress-not-allowlisted"),
    ("exfil_burst", "stowaway.net.process-egress-not-allowlisted"),
    ("batch_beacon", "stowaway.net.process-egress-not-allowlisted"),
])
def test_rule_fires_on_the_adversary_recording(fixture, rule_id):
    assert rule_id in rule_hits(fixture)


@pytest.mark.parametrize("fixture", ["sidecar_redirect", "sanctioned_proxy", "backup_transfer", "health_checks",
                                     "baselined_sync"])
def test_no_network_rule_fires_on_a_benign_recording(fixture):
    assert not set(NET_RULES) & set(rule_hits(fixture))


def test_nat_rule_fires_on_the_dnat_to_the_outside_not_on_the_engines_own_rules():
    fired = [e for e in events("nat_redirect") if any(r.rule_id == "stowaway.net.nat-redirect-external"
                                                      for r in RULES.match(e))]
    assert fired and all(e["nat.target"] == "DNAT" and e["nat.to.ip"].startswith("198.19.") for e in fired)
    engine_dns = [e for e in events("nat_redirect") if e.get("nat.to.ip") == "127.0.0.11"]
    assert engine_dns and all(e["policy.egress.nat_to_zone"] == "loopback" for e in engine_dns)


def test_name_hijack_fires_on_both_the_dns_answer_and_the_http_host():
    kinds = {e["event.dataset"] for e in events("name_hijack")
             if any(r.rule_id == "stowaway.net.name-hijack" for r in RULES.match(e))}
    assert kinds == {"network.dns", "network.flow"}


@pytest.mark.parametrize(("analytic", "adversary", "benign"), [
    (BeaconAnalytic, "batch_beacon", ("baselined_sync", "health_checks", "sanctioned_proxy", "backup_transfer")),
    (NewPeerAnalytic, "batch_beacon", ("baselined_sync", "health_checks")),
    (VolumeAnalytic, "exfil_burst", ("backup_transfer", "sanctioned_proxy")),
    (RelayAnalytic, "relay", ("sanctioned_proxy", "backup_transfer")),
])
def test_analytic_fires_on_its_adversary_and_not_on_the_benign_twins(analytic, adversary, benign):
    alerts = analytic_hits(analytic, adversary)
    assert alerts, f"{analytic.rule_id} stayed silent on {adversary}"
    assert all(a.object.startswith("container:") for a in alerts)
    for fixture in benign:
        assert analytic_hits(analytic, fixture) == [], f"{analytic.rule_id} fired on {fixture}"


def test_new_peer_names_the_outside_peer_and_the_learned_baseline():
    alert = analytic_hits(NewPeerAnalytic, "batch_beacon")[0]
    assert alert.context["peer"] == "external/tcp/443"
    assert "service:app=ledger-db/tcp/5432" in alert.context["baseline"]
    assert alert.context["policy.baseline.service"] == "app=ledger-close"


def test_new_peer_learns_during_the_warm_up_only():
    analytic = NewPeerAnalytic(POLICY)
    analytic.stored = {}  # learned alone
    for event in events("baselined_sync"):
        analytic.observe(event)
    learned = {b["service"]: b["peers"] for b in analytic.learned()}
    assert learned["app=report-sync"] == ["service:app=ledger-db/tcp/5432"]


def test_stored_baselines_are_readable_and_keyed_by_service_identity():
    stored = load_stored(POLICY.section("network-baseline").stored)
    assert stored["app=report-sync"] == {"service:app=ledger-db/tcp/5432"}


def test_volume_alert_reports_bytes_against_the_budget():
    alert = analytic_hits(VolumeAnalytic, "exfil_burst")[0]
    assert alert.context["bytes_in_window"] > alert.context["budget_bytes"] == 2 * 1024 * 1024


def test_backup_is_held_to_its_declared_budget_not_exempted():
    backup = [e for e in events("backup_transfer") if e.get("event.dataset") == "network.flow"
              and e.get("policy.egress.sanction") == "offsite-backup"]
    assert backup and all(e["policy.egress.volume_budget_bytes"] == 256 * 1024 * 1024 for e in backup)


SERIES = json.loads((NET / "beacon_series.json").read_text())


@pytest.mark.parametrize("name", sorted(SERIES))
def test_periodicity_on_stored_series(name):
    score = periodicity(SERIES[name]["starts"])
    is_beacon = score is not None and score.is_beacon
    assert is_beacon is SERIES[name]["beacon"], f"{name}: {score}"


def test_beacon_score_is_robust_to_jitter_but_not_to_randomness():
    jittered = periodicity(SERIES["jitter_30pct"]["starts"])
    random_ = periodicity(SERIES["exponential"]["starts"])
    assert jittered is not None and random_ is not None
    assert jittered.jitter < 0.3 < random_.jitter


def _flow(flow_id: str, start: float, sent: int, **fields: object) -> dict:
    event = {"event.id": f"{flow_id}-{sent}", "event.created": start + 1, "event.dataset": "network.flow",
             "event.start": start, "flow.id": flow_id, "source.bytes": sent}
    event.update(fields)
    return event


def test_relay_is_judged_when_the_inbound_legs_last_count_arrives_after_the_outbound_one():
    relay, client = "r" * 64, "c" * 64
    analytic = RelayAnalytic(POLICY)
    inbound = {"container.id": client, "destination.container.id": relay, "source.ip": "198.18.0.3",
               "policy.egress.destination_zone": "internal"}
    outbound = {"container.id": relay, "destination.ip": "198.19.0.10", "policy.egress.destination_zone": "external"}
    assert analytic.observe(_flow("in", 100.0, 1000, **inbound)) == []
    assert analytic.observe(_flow("out", 100.5, 400_000, **outbound)) == []  # the inbound count lags behind
    (alert,) = analytic.observe(_flow("in", 100.0, 400_000, **inbound))
    assert alert.object == f"container:{relay}"  # the relay, not the client whose update came last
