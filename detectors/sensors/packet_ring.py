"""The packet sensor's recent frames, kept so that a responder can cut a pcap slice around an alert.

Flow records say who talked to whom and how much; an analyst also wants the bytes (what the beacon
sent, what the exfiltration carried). ``PacketRing`` keeps the first ``SNAPLEN`` bytes of the most
recent IPv4 TCP/UDP frames the packet sensor captured, bounded in bytes and in age (the oldest go
first), each with its two addresses and its length on the wire, and writes those of given addresses
in a time window as a classic pcap file (libpcap format, Ethernet link type: what tcpdump and
Wireshark read; a frame longer than ``SNAPLEN`` is truncated there as ``tcpdump -s`` would).

A frame seen on two bridges (a container on two lab networks) is kept once per bridge, as captured.
Blind spots: a frame the sensor did not capture (the kernel's buffer overflowed, a bridge not yet
sniffed) is not here; a slice older than the ring's bounds comes back partial, and ``slice`` says
from when it holds frames.
"""

from __future__ import annotations

import struct
import threading
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass

MAX_BYTES = 32 * 1024 * 1024
MAX_AGE_S = 600.0
# The first bytes of each frame are kept (headers and the start of its payload, as ``tcpdump -s``):
# measured, with full frames in 16 MiB the bulk transfers of six scenarios at once evicted an
# exfiltration's frames before its response cut the slice; 512 bytes a frame keeps about 65,000.
SNAPLEN = 512
PCAP_SNAPLEN = 65535
LINKTYPE_ETHERNET = 1
_GLOBAL = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, PCAP_SNAPLEN, LINKTYPE_ETHERNET)


@dataclass(frozen=True, slots=True)
class Slice:
    pcap: bytes  # a whole pcap file (header included), possibly with no packet
    packets: int
    oldest_kept: float | None  # the ring's oldest frame when the slice was cut (None: it was empty)


class PacketRing:
    def __init__(self, max_bytes: int = MAX_BYTES, max_age_s: float = MAX_AGE_S, snaplen: int = SNAPLEN) -> None:
        self.max_bytes, self.max_age_s, self.snaplen = max_bytes, max_age_s, snaplen
        self._frames: deque[tuple[float, str, str, bytes, int]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self.evicted = 0

    def add(self, ts: float, frame: bytes, src: str, dst: str) -> None:
        kept = frame[:self.snaplen]
        with self._lock:
            self._frames.append((ts, src, dst, kept, len(frame)))
            self._bytes += len(kept)
            while self._frames and (self._bytes > self.max_bytes or ts - self._frames[0][0] > self.max_age_s):
                old = self._frames.popleft()
                self._bytes -= len(old[3])
                self.evicted += 1

    def slice(self, addresses: Collection[str], since: float, until: float) -> Slice:
        """The frames from or to any of ``addresses`` captured in [since, until], as a pcap file."""
        wanted = set(addresses)
        with self._lock:
            oldest = self._frames[0][0] if self._frames else None
            chosen = [(ts, frame, length) for ts, src, dst, frame, length in self._frames
                      if since <= ts <= until and (src in wanted or dst in wanted)]
        out = [_GLOBAL]
        for ts, frame, length in chosen:
            seconds = int(ts)
            out.append(struct.pack("<IIII", seconds, round((ts - seconds) * 1e6) % 1_000_000, len(frame), length))
            out.append(frame)
        return Slice(b"".join(out), len(chosen), oldest)
