"""The egress and network-baseline policy kinds: strict loading, zones, sanctions, service identity."""

from __future__ import annotations

import pytest

from detectors.netpolicy import service_identity
from detectors.policies import PolicyError, load_policy

EGRESS = """
kind: egress
internal_networks: ["198.18.0.0/16"]
internal_domains: ["*.corp.internal"]
sanctioned_proxies:
  - {name: proxy, description: d, owner: net, match: {labels: {app: egress-proxy}}}
sanctioned_egress:
  - {name: backup, description: d, owner: st, match: {labels: {app: backup}}, ports: [873], volume_budget_bytes: 100}
"""


def policy(tmp_path, text):
    (tmp_path / "p.yaml").write_text(text)
    return load_policy([tmp_path])


def flow(**fields):
    base = {"container.id": "c1", "destination.ip": "198.19.0.10", "destination.port": 80}
    base.update({k.replace("__", "."): v for k, v in fields.items()})
    return base


def test_zones_and_sanctions(tmp_path):
    p = policy(tmp_path, EGRESS)
    assert p.enrich(flow(destination__ip="198.18.4.2"))["policy.egress.destination_zone"] == "internal"
    out = p.enrich(flow())
    assert (out["policy.egress.destination_zone"], out["policy.egress.sanctioned"]) == ("external", False)
    assert p.enrich(flow(**{"container__labels__app": "egress-proxy"}))["policy.egress.sanction"] == "proxy"
    backup = p.enrich(flow(destination__port=873, **{"container__labels__app": "backup"}))
    assert backup["policy.egress.sanction"] == "backup" and backup["policy.egress.volume_budget_bytes"] == 100
    # The backup sanction covers its port only.
    other_port = p.enrich(flow(destination__port=22, **{"container__labels__app": "backup"}))
    assert other_port["policy.egress.sanctioned"] is False
    assert p.enrich({"nat.to.ip": "127.0.0.11"})["policy.egress.nat_to_zone"] == "loopback"


def test_internal_names_in_dns_answers(tmp_path):
    p = policy(tmp_path, EGRESS)
    out = p.enrich({"dns.question.name": "repo.corp.internal", "dns.resolved_ip": ["198.19.0.10"]})
    assert out["policy.egress.dns_internal_name"] is True and out["policy.egress.dns_answer_zone"] == "external"
    assert p.enrich({"dns.question.name": "example.org"})["policy.egress.dns_internal_name"] is False


@pytest.mark.parametrize(("text", "field"), [
    ("kind: egress\ninternal_networks: [not-a-cidr]\n", "internal_networks[0]"),
    ("kind: egress\nbogus: 1\n", "bogus"),
    ("kind: egress\nsanctioned_proxies:\n  - {name: a, description: b, owner: c, match: {}}\n",
     "sanctioned_proxies[0].match"),
    ("kind: egress\nvolume: {budget_bytes: -1}\n", "volume.budget_bytes"),
    ("kind: network-baseline\nstored_baselines: [nowhere]\n", "stored_baselines[0]"),
    ("kind: network-baseline\nmonitored:\n  - {name: a, description: b, owner: c}\n", "monitored[0].match"),
])
def test_errors_name_the_field(tmp_path, text, field):
    with pytest.raises(PolicyError) as err:
        policy(tmp_path, text)
    assert err.value.field == field


@pytest.mark.parametrize(("event", "identity"), [
    ({"container.labels.app": "ledger-close", "container.name": "batch-3fa9c1"}, "app=ledger-close"),
    ({"container.labels.com.docker.compose.service": "web", "container.name": "x"}, "com.docker.compose.service=web"),
    ({"container.image.name": "stowaway/base:1", "container.name": "batch-3fa9c1"}, "image=stowaway/base:1,name=batch"),
    ({"container.image.name": "nginx", "container.name": "web.2.k3j4h5g6f7a8s9d0q1w2e3r4t"}, "image=nginx,name=web"),
])
def test_service_identity_survives_redeployment(event, identity):
    assert service_identity(event) == identity
