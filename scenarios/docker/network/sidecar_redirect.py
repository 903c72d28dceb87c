"""A service-mesh style sidecar redirects a container's outbound HTTP to a local proxy port."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension


class SidecarRedirect(Scenario):
    id = "docker.network.sidecar-redirect"
    title = "Transparent sidecar proxy redirects outbound HTTP to a local port (REDIRECT)"
    kind = Kind.BENIGN
    techniques = ("T1090",)
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.net.nat-redirect-external",), window_s=8)
    twin = "docker.network.nat-redirect"
    tags = ("network", "redirection")
    dimensions = (
        Dimension("tool", ("iptables", "iptables-legacy"), doc="the mesh's init step writes its rule through "
                  "iptables' nf_tables backend or the legacy xtables one (both are in the wild)"),
        Dimension("proxy_port", (15001, 3128), doc="the local port the sidecar listens on"),
    )
    description = (
        "Deploys an internal service on the LAN (python http.server on 8080) and an application container "
        "with NET_ADMIN, as a service-mesh init container would set it up: an iptables REDIRECT rule sends "
        "the application's connections to port 80 of the service to a local sidecar port (15001), where socat "
        "forwards them to the service's real port. The application fetches through it and the scenario checks "
        "the answer came back. The NAT rule points to the container itself, so nothing leaves the LAN. "
        "Variants write the rule with iptables-legacy, or use port 3128 for the sidecar."
    )

    def detonate(self, lab: Lab) -> None:
        svc = lab.deploy(WorkloadSpec(role="catalog", networks=("lan",), labels={"app": "catalog"},
                                      command=("python3", "-m", "http.server", "8080", "--directory", "/usr/share")))
        target = svc.addresses["lan"]
        tool, proxy_port = str(self.variant["tool"]), int(self.variant["proxy_port"])
        app = lab.deploy(WorkloadSpec(
            role="app", networks=("lan",), cap_add=("NET_ADMIN",), labels={"app": "storefront"},
            command=("socat", f"TCP-LISTEN:{proxy_port},fork,reuseaddr", f"TCP:{target}:8080"),
        ))
        lab.action("the sidecar's init step redirects outbound port 80 to the local proxy port")
        lab.exec(app, tool, "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", target, "--dport", "80",
                 "-j", "REDIRECT", "--to-ports", str(proxy_port))
        out = lab.exec(app, "sh", "-c", f"for i in 1 2 3 4 5 6 7 8 9 10; do curl -sf -m 2 http://{target}/ "
                                        "&& exit 0; sleep 0.5; done; exit 1")
        if "Directory listing" not in out.output:
            raise RuntimeError(f"the sidecar did not forward the request: {out.output[:200]}")
