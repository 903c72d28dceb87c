"""A web server runs in the foreground and logs to the container's output; its health probe is quiet."""

from __future__ import annotations

from lab import Lab, Mount, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

# How the entrypoint's own output leaves it, the ways honest services do it.
OUTPUT = {
    "stdout": "",
    # A legacy service writes its log to a file on a volume a shipper reads (not the container log).
    "volume-file": "exec >>/var/log/web/console.log 2>&1; ",
    # Every line timestamped by a process the entrypoint pipes its output through, on to the log.
    "timestamped": "exec > >(while IFS= read -r line; do printf '%s %s\\n' \"$(date +%T)\" \"$line\"; done) 2>&1; ",
}
PROBES = {"curl": "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/",
          "python": "python3 -c 'import urllib.request as u; u.urlopen(\"http://127.0.0.1/\").read()' "
                    ">/dev/null 2>&1 && echo 200"}


class ForegroundWeb(Scenario):
    id = "docker.logging.foreground-web"
    title = "nginx in the foreground with a quiet health probe"
    kind = Kind.BENIGN
    techniques = ("T1562.006",)
    backends = ("docker",)
    expect = Expectation(silent=("stowaway.docker.output-discarded",), window_s=10)
    twin = "docker.logging.stdout-devnull"
    tags = ("logging",)
    dimensions = (
        Dimension("output", tuple(OUTPUT), doc="where the entrypoint's own output goes: the container's stdout, "
                  "a file on a volume a log shipper reads, or through a timestamping process on to stdout"),
        Dimension("probe", tuple(PROBES), doc="the health probe's tool, its response body sent to /dev/null"),
    )
    description = (
        "Deploys nginx in the foreground (`daemon off`) with its access log on the container's "
        "stdout, and a health probe loop in the same container that runs `curl -s -o /dev/null` "
        "every second and prints the status code. A client on the LAN fetches pages. The scenario "
        "checks the access lines reach the container log. The output rule must stay silent: the "
        "only output sent to /dev/null is a probe's response body, for a moment. Variants write the "
        "entrypoint's output to a file on a volume (as legacy services feeding a shipper do) or through a "
        "timestamping process, and probe from Python."
    )

    def detonate(self, lab: Lab) -> None:
        output, probe = str(self.variant["output"]), str(self.variant["probe"])
        serve = (
            f"{OUTPUT[output]}printf 'daemon off; error_log stderr; events {{}}\\n"
            "http { access_log /dev/stdout; server { listen 80; root /usr/share/doc; autoindex on; } }\\n' "
            "> /tmp/web.conf && nginx -c /tmp/web.conf & "
            f"while true; do echo \"health $({PROBES[probe]})\"; sleep 1; done"
        )
        lab.action("deploy a foreground web server with a health probe")
        logs_volume = Mount(source=lab.create_volume(lab.name("web-logs")), target="/var/log/web", type="volume")
        web = lab.deploy(WorkloadSpec(role="web", command=("bash", "-c", serve), mounts=(logs_volume,)))
        client = lab.deploy(WorkloadSpec(role="web-check"))
        url = f"http://{web.addresses['lan']}/"
        lab.exec(client, "sh", "-c", f"for i in 1 2 3 4 5 6; do curl -sf -m 2 -o /dev/null {url} && exit 0; "
                 "sleep 1; done; exit 1")
        def logged() -> str:
            if output == "volume-file":
                return lab.exec(web, "cat", "/var/log/web/console.log").output
            return lab.logs(web)
        # A timestamping process is a moment behind the server: wait for the line to pass through it.
        lab.wait_for(lambda: "GET /" in logged(), timeout=10,
                     what=f"nginx's access log to reach where this service logs ({output})")
