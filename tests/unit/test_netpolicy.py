"""The egress and network-baseline policy kinds: strict loading, zones, sanctions, service identity."""

from __future__ import annotations

import pytest

from detectors.identity import service_identity
from detectors.platform import Platform
from detectors.policies import PolicyError, load_policy
from tests.unit.platform_kit import PlatformKit

EGRESS = """
kind: egress
internal_networks: ["10.20.0.0/16"]
internal_domains: ["*.corp.internal"]
sanctioned_proxies:
  - name: proxy
    description: d
    owner: net
    match: {image: {signer: platform-image-pipeline, identities: [platform/egress-proxy]}, networks: [lan, internet]}
    ports: [80, 443]
sanctioned_egress:
  - name: backup
    description: d
    owner: st
    match: {image: {signer: platform-image-pipeline, identities: [platform/vault-backup]}, networks: [lan, internet]}
    ports: [873]
    volume_budget_bytes: 100
"""
PROXY, BACKUP, UNSIGNED = "sha256:" + "1" * 64, "sha256:" + "2" * 64, "sha256:" + "3" * 64
LAN, INTERNET, OTHER = "a" * 64, "b" * 64, "c" * 64
RUN = ["run"]


@pytest.fixture
def p(tmp_path):
    kit = PlatformKit(tmp_path)
    kit.sign(PROXY, "platform/egress-proxy", RUN)
    kit.sign(BACKUP, "platform/vault-backup", RUN)
    kit.network(LAN, "lan")
    kit.network(INTERNET, "internet")
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "p.yaml").write_text(EGRESS)
    return kit.policy(tmp_path / "policy", shipped=False)


def policy(tmp_path, text):
    (tmp_path / "p.yaml").write_text(text)
    return load_policy([tmp_path])


def flow(**fields):
    """A hand-made flow: a container on the LAN and the lab internet, to an address on the lab internet."""
    base = {"container.id": "c1", "destination.ip": "198.19.0.10", "destination.port": 80,
            "destination.network.id": INTERNET, "container.network.ids": [LAN, INTERNET],
            "container.image.id": UNSIGNED, "container.command": RUN}
    base.update({k.replace("__", "."): v for k, v in fields.items()})
    return base


def test_zones_come_from_the_engines_networks(p):
    # Any engine network is inside, whatever its range (a swarm overlay in 198.19.128.0/18 too) ...
    overlay = p.enrich(flow(destination__ip="198.19.130.5", destination__network__id=OTHER))
    assert overlay["policy.egress.destination_zone"] == "internal"
    # ... except the one the platform made to stand for the outside world.
    out = p.enrich(flow())
    assert (out["policy.egress.destination_zone"], out["policy.egress.sanctioned"]) == ("external", False)
    # Off the engine's networks: the policy's ranges, else outside.
    corporate = flow(destination__ip="10.20.1.1")
    del corporate["destination.network.id"]
    assert p.enrich(corporate)["policy.egress.destination_zone"] == "internal"
    elsewhere = flow(destination__ip="198.18.4.2")
    del elsewhere["destination.network.id"]
    assert p.enrich(elsewhere)["policy.egress.destination_zone"] == "external"
    assert p.enrich({"nat.to.ip": "127.0.0.11"})["policy.egress.nat_to_zone"] == "loopback"
    assert p.enrich({"nat.to.ip": "198.19.0.10", "nat.to.network.id": INTERNET})["policy.egress.nat_to_zone"] == \
        "external"


def test_sanctions_bind_to_the_signed_image_its_networks_and_ports(p):
    assert p.enrich(flow(container__image__id=PROXY))["policy.egress.sanction"] == "proxy"
    backup = p.enrich(flow(destination__port=873, container__image__id=BACKUP))
    assert backup["policy.egress.sanction"] == "backup" and backup["policy.egress.volume_budget_bytes"] == 100
    # The backup sanction covers its port only; the proxy's, its own.
    assert p.enrich(flow(destination__port=22, container__image__id=BACKUP))["policy.egress.sanctioned"] is False
    assert p.enrich(flow(destination__port=4444, container__image__id=PROXY))["policy.egress.sanctioned"] is False
    # The look-alike: the proxy's labels, an image the pipeline did not sign.
    lookalike = p.enrich(flow(**{"container__labels__app": "egress-proxy", "container__labels__tier": "infra"}))
    assert (lookalike["policy.egress.sanctioned"], lookalike["policy.egress.source_proxy"]) == (False, False)
    # The genuine image, with a command of its own, or on a network the platform did not make.
    assert p.enrich(flow(container__image__id=PROXY, container__command=["sh"]))["policy.egress.sanctioned"] is False
    assert p.enrich(flow(container__image__id=PROXY, container__network__ids=[LAN, OTHER]))[
        "policy.egress.sanctioned"] is False


def test_handing_traffic_to_the_proxy(p):
    to_proxy = flow(destination__ip="198.18.0.5", destination__network__id=LAN,
                    destination__container__id="p1", destination__container__image__id=PROXY,
                    destination__container__command=RUN, destination__container__network__ids=[LAN, INTERNET])
    out = p.enrich(to_proxy)
    assert (out["policy.egress.destination_zone"], out["policy.egress.via_proxy"]) == ("internal", True)


def test_internal_names_in_dns_answers(p):
    out = p.enrich({"dns.question.name": "repo.corp.internal", "dns.resolved_ip": ["198.19.0.10"],
                    "dns.resolved_network_ids": [INTERNET]})
    assert out["policy.egress.dns_internal_name"] is True and out["policy.egress.dns_answer_zone"] == "external"
    assert p.enrich({"dns.question.name": "example.org"})["policy.egress.dns_internal_name"] is False


@pytest.mark.parametrize(("text", "field"), [
    ("kind: egress\ninternal_networks: [not-a-cidr]\n", "internal_networks[0]"),
    ("kind: egress\nbogus: 1\n", "bogus"),
    ("kind: egress\nsanctioned_proxies:\n  - {name: a, description: b, owner: c, match: {}, ports: [80]}\n",
     "sanctioned_proxies[0].match"),
    ("kind: egress\nsanctioned_proxies:\n  - {name: a, description: b, owner: c, match: {networks: [lan]}}\n",
     "sanctioned_proxies[0].ports"),
    ("kind: egress\nsanctioned_proxies:\n  - {name: a, description: b, owner: c, match: {labels: {app: p}},"
     " ports: [80]}\n", "sanctioned_proxies[0].match.labels"),
    ("kind: egress\nvolume: {budget_bytes: -1}\n", "volume.budget_bytes"),
    ("kind: network-baseline\nstored_baselines: [nowhere]\n", "stored_baselines[0]"),
    ("kind: network-baseline\nmonitored:\n  - {name: a, description: b, owner: c}\n", "monitored[0].match"),
])
def test_errors_name_the_field(tmp_path, text, field):
    with pytest.raises(PolicyError) as err:
        policy(tmp_path, text)
    assert err.value.field == field


@pytest.mark.parametrize(("event", "identity"), [
    ({"container.labels.app": "ledger-close", "container.name": "batch-3fa9c1"}, "claimed:app=ledger-close"),
    ({"container.labels.com.docker.compose.service": "web", "container.name": "x"},
     "claimed:com.docker.compose.service=web"),
    ({"container.image.name": "stowaway/base:1", "container.name": "batch-3fa9c1"},
     "claimed:image=stowaway/base:1,name=batch"),
    ({"container.image.name": "nginx", "container.name": "web.2.k3j4h5g6f7a8s9d0q1w2e3r4t"},
     "claimed:image=nginx,name=web"),
])
def test_an_unsigned_service_is_only_what_it_claims(event, identity):
    assert service_identity(event) == identity


def test_a_signed_service_run_as_built_is_its_signed_identity(tmp_path):
    kit = PlatformKit(tmp_path)
    kit.sign(BACKUP, "platform/report-sync", RUN)
    platform = Platform(kit.policy(shipped=False))
    genuine = {"container.image.id": BACKUP, "container.command": RUN, "container.labels.app": "report-sync"}
    assert service_identity(genuine, platform=platform) == "image=platform/report-sync"
    other_command = {**genuine, "container.command": ["python3", "-c", "..."]}
    assert service_identity(other_command, platform=platform) == "claimed:app=report-sync"
    unsigned = {**genuine, "container.image.id": UNSIGNED}
    assert service_identity(unsigned, platform=platform) == "claimed:app=report-sync"
