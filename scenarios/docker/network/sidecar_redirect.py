"""A service-mesh style sidecar redirects a container's outbound HTTP to a local proxy port."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class SidecarRedirect(Scenario):
    id = "docker.network.sidecar-redirect"
    title = "Transparent sidecar proxy redirects outbound HTTP to a local port (REDIRECT)"
    kind = Kind.BENIGN
    techniques = ("T1090",)
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.net.nat-redirect-external",), window_s=8)
    twin = "docker.network.nat-redirect"
    tags = ("network", "redirection")
    description = (
        "Deploys an internal service on the LAN (python http.server on 8080) and an application container "
        "with NET_ADMIN, as a service-mesh init container would set it up: an iptables REDIRECT rule sends "
        "the application's connections to port 80 of the service to a local sidecar port (15001), where socat "
        "forwards them to the service's real port. The application fetches through it and the scenario checks "
        "the answer came back. The NAT rule points to the container itself, so nothing leaves the LAN."
    )

    def detonate(self, lab: Lab) -> None:
        svc = lab.deploy(WorkloadSpec(role="catalog", networks=("lan",), labels={"app": "catalog"},
                                      command=("python3", "-m", "http.server", "8080", "--directory", "/usr/share")))
        target = svc.addresses["lan"]
        app = lab.deploy(WorkloadSpec(
            role="app", networks=("lan",), cap_add=("NET_ADMIN",), labels={"app": "storefront"},
            command=("socat", "TCP-LISTEN:15001,fork,reuseaddr", f"TCP:{target}:8080"),
        ))
        lab.action("the sidecar's init step redirects outbound port 80 to the local proxy port")
        lab.exec(app, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", target, "--dport", "80",
                 "-j", "REDIRECT", "--to-ports", "15001")
        out = lab.exec(app, "sh", "-c", f"for i in 1 2 3 4 5 6 7 8 9 10; do curl -sf -m 2 http://{target}/ "
                                        "&& exit 0; sleep 0.5; done; exit 1")
        if "Directory listing" not in out.output:
            raise RuntimeError(f"the sidecar did not forward the request: {out.output[:200]}")
