"""The packet ring: bounded in bytes and age, and a slice that is a pcap file scapy (and so tcpdump)
reads back, with only the frames of the given addresses in the window."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from detectors.sensors.packet_ring import PacketRing


def frame(src: str, dst: str, payload: bytes = b"x") -> bytes:
    return bytes(Ether() / IP(src=src, dst=dst) / TCP(sport=40000, dport=443) / payload)


def test_a_slice_holds_the_addresses_frames_in_the_window_and_reads_back_as_pcap(tmp_path) -> None:
    ring = PacketRing()
    ring.add(100.0, frame("198.18.0.5", "198.19.0.10", b"early"), "198.18.0.5", "198.19.0.10")
    ring.add(110.25, frame("198.18.0.5", "198.19.0.10", b"secret"), "198.18.0.5", "198.19.0.10")
    ring.add(111.0, frame("198.19.0.10", "198.18.0.5", b"reply"), "198.19.0.10", "198.18.0.5")
    ring.add(112.0, bytes(Ether() / IP(src="198.18.0.9", dst="198.19.0.10") / UDP() / b"other"),
             "198.18.0.9", "198.19.0.10")
    cut = ring.slice({"198.18.0.5"}, 105.0, 120.0)
    assert cut.packets == 2 and cut.oldest_kept == 100.0
    path = tmp_path / "t.pcap"
    path.write_bytes(cut.pcap)
    packets = rdpcap(str(path))
    assert [bytes(p[TCP].payload) for p in packets] == [b"secret", b"reply"]
    assert float(packets[0].time) == 110.25


def test_a_long_frame_keeps_its_first_bytes_and_says_its_length_on_the_wire(tmp_path) -> None:
    ring = PacketRing(snaplen=64)
    big = frame("198.18.0.5", "198.19.0.10", b"y" * 1000)
    ring.add(1.0, big, "198.18.0.5", "198.19.0.10")
    path = tmp_path / "t.pcap"
    path.write_bytes(ring.slice({"198.18.0.5"}, 0.0, 2.0).pcap)
    packet = rdpcap(str(path))[0]
    assert len(bytes(packet)) == 64 and packet.wirelen == len(big)


def test_the_ring_forgets_the_oldest_past_its_bytes_or_its_age() -> None:
    ring = PacketRing(max_bytes=3 * len(frame("1.1.1.1", "2.2.2.2")), max_age_s=50.0)
    for i in range(5):
        ring.add(float(i), frame("198.18.0.5", "198.19.0.10"), "198.18.0.5", "198.19.0.10")
    assert ring.slice({"198.18.0.5"}, 0.0, 10.0).packets == 3 and ring.evicted == 2
    ring.add(100.0, frame("198.18.0.5", "198.19.0.10"), "198.18.0.5", "198.19.0.10")
    assert ring.slice({"198.18.0.5"}, 0.0, 200.0).packets == 1  # the rest were older than 50 s


def test_an_empty_slice_is_still_a_pcap_file(tmp_path) -> None:
    cut = PacketRing().slice({"198.18.0.5"}, 0.0, 1.0)
    path = tmp_path / "empty.pcap"
    path.write_bytes(cut.pcap)
    assert cut.packets == 0 and cut.oldest_kept is None and len(rdpcap(str(path))) == 0
