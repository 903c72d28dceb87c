"""Flow and DNS parsing on pcaps recorded on a lab bridge during the network scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.utils import rdpcap

from detectors.sensors.flows import FlowTable, dns_record, http_host, packet_from_bytes, packet_info

NET = Path(__file__).parent.parent / "fixtures" / "net"


def replay(name: str) -> tuple[list[dict], list[dict], list]:
    """Feed a pcap through the flow table the sensor uses; return (flow records, dns records, packets)."""
    table = FlowTable()
    flows, dns, infos = [], [], []
    packets = rdpcap(str(NET / name))
    for pkt in packets:
        info = packet_info(pkt)
        if info is None:
            continue
        infos.append(info)
        flows += table.add(info, "stw-test-inet")
        record = dns_record(info)
        if record is not None:
            dns.append(record)
    flows += table.flush(max(i.ts for i in infos) + 1000)
    return flows, dns, infos


def test_name_hijack_pcap_gives_the_dns_question_and_the_sinkhole_answer():
    _, dns, _ = replay("name_hijack.pcap")
    queries = [d for d in dns if d["event.action"] == "dns_query"]
    answers = [d for d in dns if d["event.action"] == "dns_answer"]
    assert {q["dns.question.name"] for q in queries} == {"updates.corp.internal"}
    a_answer = next(a for a in answers if a["dns.question.type"] == "A")
    assert a_answer["dns.response_code"] == "NOERROR"
    # The rogue resolver answers with its own address, and the event is the client's, whichever way it went.
    assert a_answer["dns.resolved_ip"] == [a_answer["destination.ip"]]
    assert a_answer["source.ip"] == queries[0]["source.ip"]
    assert a_answer["destination.port"] == 53


def test_name_hijack_pcap_flow_carries_the_http_host_it_asked_for():
    flows, _, _ = replay("name_hijack.pcap")
    http = [f for f in flows if f["destination.port"] == 80]
    assert http, "the hijacked HTTP request is in the capture"
    assert {f.get("http.request.host") for f in http if f["event.action"] == "end"} == {"repo.corp.internal"}
    end = next(f for f in http if f["event.action"] == "end")
    assert end["flow.initiator_seen"] is True
    assert end["flow.closed_by"] == "fin"
    assert "S" in end["tcp.flags"] and "F" in end["tcp.flags"]


def test_flow_byte_counts_add_up_to_the_ip_lengths_per_direction():
    flows, _, infos = replay("proxy.pcap")
    ends = [f for f in flows if f["event.action"] == "end"]
    assert sum(f["network.bytes"] for f in ends) == sum(i.length for i in infos)
    assert sum(f["network.packets"] for f in ends) == len(infos)
    for flow in ends:
        sent = sum(i.length for i in infos if (i.src, i.sport, i.dst, i.dport) ==
                   (flow["source.ip"], flow["source.port"], flow["destination.ip"], flow["destination.port"]))
        assert flow["source.bytes"] == sent


def test_proxy_pcap_has_both_legs_oriented_from_their_openers():
    flows, _, _ = replay("proxy.pcap")
    starts = [f for f in flows if f["event.action"] == "start"]
    to_proxy = [f for f in starts if f["destination.port"] == 3128]
    from_proxy = [f for f in starts if f["destination.port"] == 80]
    assert to_proxy and from_proxy
    assert all(f["source.ip"].startswith("198.18.") for f in to_proxy)  # the LAN client opened them
    assert all(f["source.ip"].startswith("198.19.") for f in from_proxy)  # the proxy's outside leg


def test_every_beacon_connection_is_its_own_flow_start():
    flows, _, infos = replay("beacon.pcap")
    syns = [i for i in infos if i.transport == "tcp" and i.flags & 0x02 and not i.flags & 0x10]
    starts = [f for f in flows if f["event.action"] == "start"]
    assert len(starts) == len(syns) >= 5
    assert len({f["source.port"] for f in starts}) == len(starts)
    assert {f["destination.port"] for f in starts} == {443}


def test_a_flow_is_reported_at_its_first_packet_and_updated_at_most_once_a_second():
    table = FlowTable(update_s=1.0)
    frame = bytes(rdpcap(str(NET / "beacon.pcap"))[0])
    first = packet_from_bytes(frame, 100.0)
    assert first is not None
    assert [r["event.action"] for r in table.add(first)] == ["start"]
    assert table.flush(100.5) == []  # nothing moved since the start was reported
    table.add(packet_from_bytes(frame, 100.6))
    assert table.flush(100.8) == []
    assert [r["event.action"] for r in table.flush(101.1)] == ["update"]


@pytest.mark.parametrize(("payload", "host"), [
    (b"GET / HTTP/1.1\r\nHost: Repo.Corp.Internal:8080\r\n\r\n", "repo.corp.internal"),
    (b"POST /x HTTP/1.1\r\nUser-Agent: a\r\nhost:api.corp.internal.\r\n\r\n", "api.corp.internal"),
    (b"\x16\x03\x01\x02\x00", ""),
    (b"GET / HTTP/1.0\r\n\r\n", ""),
])
def test_http_host(payload, host):
    assert http_host(payload) == host


def test_non_ip_frames_are_ignored():
    arp = bytes.fromhex("ffffffffffff0242c6130102" "0806" + "00" * 28)
    assert packet_from_bytes(arp, 1.0) is None
