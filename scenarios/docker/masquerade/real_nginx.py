"""The real nginx, from its real path, serving requests."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

# The ways images start their nginx: the packaged path, a shell entrypoint that execs it, PATH lookup.
LAUNCH = {
    "direct": ("/usr/sbin/nginx", "-g", "daemon off;"),
    "shell-exec": ("sh", "-c", "exec /usr/sbin/nginx -g 'daemon off;'"),
    "path-lookup": ("nginx", "-g", "daemon off;"),
}


class RealNginx(Scenario):
    id = "docker.masquerade.real-nginx"
    title = "The real nginx runs from /usr/sbin/nginx"
    kind = Kind.BENIGN
    backends = ("docker", "kubernetes")
    techniques = ("T1036.005",)
    expect = Expectation(silent=("stowaway.host.masquerade-name", "stowaway.host.exec-from-temp-dir",
                                 "stowaway.host.argv0-mismatch", "stowaway.host.deleted-executable",
                                 "stowaway.host.drop-and-execute"), window_s=10)
    twin = "docker.masquerade.tmp-kworker"
    tags = ("masquerade",)
    dimensions = (
        Dimension("launch", tuple(LAUNCH), doc="how the container starts nginx: its packaged path, a shell "
                  "entrypoint that execs it, or by name through PATH"),
    )
    description = (
        "Deploys a web container running the distribution's nginx (/usr/sbin/nginx, from the image) "
        "in the foreground; its master rewrites its process title and forks workers, as nginx does. "
        "A client fetches the default page a few times. The masquerade rules must stay silent."
    )

    def detonate(self, lab: Lab) -> None:
        lab.action("start nginx from its packaged path")
        web = lab.deploy(WorkloadSpec(role="web", command=LAUNCH[str(self.variant["launch"])]))
        # A client beside it fetches pages, as other services would; nothing execs into the web
        # server (on Kubernetes an exec into a pod is an alert of its own).
        url = f"http://{web.addresses.get('lan') or web.addresses['pod']}/"
        client = lab.deploy(WorkloadSpec(role="web-check", command=("sh", "-c", (
            f"for i in $(seq 1 45); do curl -sf -m 2 -o /dev/null {url} && break; sleep 1; done; "
            f"for i in 1 2 3; do curl -sf -m 5 -o /dev/null {url} && echo fetched; done; sleep 120"))))
        lab.wait_for(lambda: lab.logs(client).count("fetched") == 3, timeout=90, what="the client to fetch three pages")
