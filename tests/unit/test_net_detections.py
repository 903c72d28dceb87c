"""Network rules and analytics on events recorded from real scenario runs (tests/fixtures/recorded/).

Each fixture (harness/record.py) holds the events the network sensors (and the docker events sensor)
emitted for one scenario's containers, before enrichment, with the platform facts a replay needs: the
tests enrich them again with the shipped policy, so a policy change shows up here.
"""

from __future__ import annotations

import json
import tempfile
from functools import cache
from pathlib import Path

import pytest

from detectors.analytics.net_baseline import NewPeerAnalytic, load_stored
from detectors.analytics.net_beacon import BeaconAnalytic, periodicity
from detectors.analytics.net_relay import RelayAnalytic
from detectors.analytics.net_volume import VolumeAnalytic
from detectors.engine import load_rules
from detectors.policies import DEFAULT_POLICY_DIR, load_policy
from tests.unit.recorded import load_fixture, policy_for

NET = Path(__file__).parent.parent / "fixtures" / "net"
POLICY = load_policy([DEFAULT_POLICY_DIR])
RULES = load_rules()


@cache
def _policy(name: str):
    return policy_for(load_fixture(f"docker.network.{name}"), Path(tempfile.mkdtemp(prefix="stowaway-net-")))


def events(name: str) -> list[dict]:
    """The recorded events of docker.network.<name>, enriched by the shipped policy and its platform."""
    fixture = load_fixture(f"docker.network.{name}")
    policy = _policy(name)
    return [policy.enrich(dict(event)) for event in sorted(fixture["events"], key=lambda e: e["event.created"])]


def rule_hits(name: str) -> dict[str, set[str]]:
    hits: dict[str, set[str]] = {}
    for event in events(name):
        for rule in RULES.match(event):
            hits.setdefault(rule.rule_id, set()).add(event.get("container.name", ""))
    return hits


def analytic_hits(analytic_cls, name: str) -> list:
    analytic = analytic_cls(_policy(name))
    return [alert for event in events(name) for alert in analytic.observe(event)]


NET_RULES = ("stowaway.net.egress-not-allowlisted", "stowaway.net.process-egress-not-allowlisted",
             "stowaway.net.nat-redirect-external", "stowaway.net.name-hijack")


@pytest.mark.parametrize(("fixture", "rule_id"), [
    ("nat-redirect", "stowaway.net.nat-redirect-external"),
    ("name-hijack", "stowaway.net.name-hijack"),
    ("relay", "stowaway.net.egress-not-allowlisted"),
    ("exfil-burst", "stowaway.net.egress-not-allowlisted"),
    ("exfil-burst", "stowaway.net.process-egress-not-allowlisted"),
    ("batch-beacon", "stowaway.net.process-egress-not-allowlisted"),
    ("proxy-lookalike", "stowaway.net.egress-not-allowlisted"),
    ("backup-lookalike", "stowaway.net.egress-not-allowlisted"),
])
def test_rule_fires_on_the_adversary_recording(fixture, rule_id):
    assert rule_id in rule_hits(fixture)


@pytest.mark.parametrize("fixture", ["sidecar-redirect", "sanctioned-proxy", "backup-transfer", "health-checks",
                                     "baselined-sync"])
def test_no_network_rule_fires_on_a_benign_recording(fixture):
    assert not set(NET_RULES) & set(rule_hits(fixture))


def test_nat_rule_fires_on_the_dnat_to_the_outside_not_on_the_engines_own_rules():
    fired = [e for e in events("nat-redirect") if any(r.rule_id == "stowaway.net.nat-redirect-external"
                                                      for r in RULES.match(e))]
    assert fired and all(e["nat.target"] == "DNAT" and e["policy.egress.nat_to_zone"] == "external" for e in fired)
    engine_dns = [e for e in events("nat-redirect") if e.get("nat.to.ip") == "127.0.0.11"]
    assert engine_dns and all(e["policy.egress.nat_to_zone"] == "loopback" for e in engine_dns)


def test_name_hijack_fires_on_both_the_dns_answer_and_the_http_host():
    kinds = {e["event.dataset"] for e in events("name-hijack")
             if any(r.rule_id == "stowaway.net.name-hijack" for r in RULES.match(e))}
    assert kinds == {"network.dns", "network.flow"}


@pytest.mark.parametrize(("analytic", "adversary", "benign"), [
    (BeaconAnalytic, "batch-beacon", ("baselined-sync", "health-checks", "sanctioned-proxy", "backup-transfer")),
    (NewPeerAnalytic, "batch-beacon", ("baselined-sync", "health-checks")),
    (NewPeerAnalytic, "sync-lookalike", ()),
    (VolumeAnalytic, "exfil-burst", ("backup-transfer", "sanctioned-proxy")),
    (VolumeAnalytic, "proxy-lookalike", ()),
    (VolumeAnalytic, "backup-lookalike", ()),
    (RelayAnalytic, "relay", ("sanctioned-proxy", "backup-transfer")),
])
def test_analytic_fires_on_its_adversary_and_not_on_the_benign_twins(analytic, adversary, benign):
    alerts = analytic_hits(analytic, adversary)
    assert alerts, f"{analytic.rule_id} stayed silent on {adversary}"
    assert all(a.object.startswith("container:") for a in alerts)
    for fixture in benign:
        assert analytic_hits(analytic, fixture) == [], f"{analytic.rule_id} fired on {fixture}"


def test_new_peer_names_the_outside_peer_and_the_learned_baseline():
    alert = analytic_hits(NewPeerAnalytic, "batch-beacon")[0]
    assert alert.context["peer"] == "external/tcp/443"
    assert "service:image=platform/ledger-db/tcp/5432" in alert.context["baseline"]
    assert alert.context["policy.baseline.service"] == "image=platform/ledger-close"


def test_a_claimed_identity_borrows_no_reviewed_baseline():
    # The look-alike claims report-sync's labels; the reviewed baseline belongs to its signed image.
    alert = analytic_hits(NewPeerAnalytic, "sync-lookalike")[0]
    assert alert.context["policy.baseline.service"] == "claimed:app=report-sync"
    assert alert.context["peer"] == "service:image=platform/ledger-db/tcp/5432" and alert.context["baseline"] == []


def test_new_peer_learns_during_the_warm_up_only():
    analytic = NewPeerAnalytic(_policy("baselined-sync"))
    analytic.stored = {}  # learned alone
    for event in events("baselined-sync"):
        analytic.observe(event)
    learned = {b["service"]: b["peers"] for b in analytic.learned()}
    assert learned["image=platform/report-sync"] == ["service:image=platform/ledger-db/tcp/5432"]


def test_stored_baselines_are_readable_and_keyed_by_signed_identity(tmp_path):
    stored = load_stored(POLICY.section("network-baseline").stored)
    assert stored["image=platform/report-sync"] == {"service:image=platform/ledger-db/tcp/5432"}
    (tmp_path / "x.json").write_text(json.dumps({"service": "app=report-sync", "peers": []}))
    with pytest.raises(ValueError, match="signed identity"):
        load_stored([tmp_path])


def test_volume_alert_reports_bytes_against_the_budget():
    alert = analytic_hits(VolumeAnalytic, "exfil-burst")[0]
    assert alert.context["bytes_in_window"] > alert.context["budget_bytes"] == 2 * 1024 * 1024


def test_backup_is_held_to_its_declared_budget_not_exempted():
    backup = [e for e in events("backup-transfer") if e.get("event.dataset") == "network.flow"
              and e.get("policy.egress.sanction") == "offsite-backup"]
    assert backup and all(e["policy.egress.volume_budget_bytes"] == 256 * 1024 * 1024 for e in backup)
    lookalike = [e for e in events("backup-lookalike") if e.get("event.dataset") == "network.flow"
                 and e.get("destination.port") == 873]
    assert lookalike and not any(e.get("policy.egress.sanctioned") for e in lookalike)


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
