"""A web server runs in the foreground and logs to the container's output; its health probe is quiet."""

from __future__ import annotations

from lab import Lab, LabError, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class ForegroundWeb(Scenario):
    id = "docker.logging.foreground-web"
    title = "nginx in the foreground with a quiet health probe"
    kind = Kind.BENIGN
    techniques = ("T1562.006",)
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.docker.output-discarded",), window_s=10)
    twin = "docker.logging.stdout-devnull"
    tags = ("logging",)
    description = (
        "Deploys nginx in the foreground (`daemon off`) with its access log on the container's "
        "stdout, and a health probe loop in the same container that runs `curl -s -o /dev/null` "
        "every second and prints the status code. A client on the LAN fetches pages. The scenario "
        "checks the access lines reach the container log. The output rule must stay silent: the "
        "only output sent to /dev/null is a probe's response body, for a moment."
    )

    def detonate(self, lab: Lab) -> None:
        serve = (
            "printf 'daemon off; error_log stderr; events {}\\n"
            "http { access_log /dev/stdout; server { listen 80; root /usr/share/doc; autoindex on; } }\\n' "
            "> /tmp/web.conf && nginx -c /tmp/web.conf & "
            "while true; do echo \"health $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/)\"; sleep 1; done"
        )
        lab.action("deploy a foreground web server with a health probe")
        web = lab.deploy(WorkloadSpec(role="web", command=("sh", "-c", serve)))
        client = lab.deploy(WorkloadSpec(role="web-check"))
        url = f"http://{web.addresses['lan']}/"
        lab.exec(client, "sh", "-c", f"for i in 1 2 3 4 5 6; do curl -sf -m 2 -o /dev/null {url} && exit 0; "
                 "sleep 1; done; exit 1")
        logs = lab.logs(web)
        if "GET /" not in logs:
            raise LabError(f"nginx's access log did not reach the container output: {logs[-300:]!r}")
