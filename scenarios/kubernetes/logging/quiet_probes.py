"""A web service whose health probes discard their own response bodies: its own output reaches the log."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

# The probe's response body goes to /dev/null; the status it prints goes to the container log.
PROBES = {
    "curl": "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/",
    "python": "python3 -c 'import urllib.request as u; u.urlopen(\"http://127.0.0.1:8080/\").read()' "
              ">/dev/null 2>&1 && echo 200",
}


class QuietProbes(Scenario):
    id = "kubernetes.logging.quiet-probes"
    title = "Web service pod probes itself with its probes' output sent to /dev/null"
    kind = Kind.BENIGN
    techniques = ("T1562.001",)
    backends = ("kubernetes",)
    expect = Expectation(silent=("stowaway.k8s.logs-hidden",), window_s=10)
    twin = "kubernetes.logging.devnull-output"
    tags = ("kubernetes", "logging")
    dimensions = (
        Dimension("probe", tuple(PROBES), doc="the health probe's tool: curl with -o /dev/null, or Python with "
                  "its output redirected to /dev/null and the status echoed"),
    )
    description = (
        "Runs a web server pod whose `sh -c` command does what many entrypoints do: checks its tools "
        "with `command -v python3 >/dev/null`, starts the server in the background with its access log on "
        "the container's output, and then prints a health line a second from a probe whose response body "
        "goes to /dev/null (`curl -s -o /dev/null -w '%{http_code}'`, or a Python fetch `>/dev/null 2>&1 "
        "&& echo 200`). The scenario checks the pod's log holds both the health lines and the server's "
        "access lines. The logs-hidden rule must stay silent: every /dev/null here belongs to one probe "
        "command, none to the container's own output."
    )

    def detonate(self, lab: Lab) -> None:
        script = (
            "command -v python3 >/dev/null || { echo 'python3 missing' >&2; exit 1; }; "
            "python3 -m http.server 8080 & "
            f"while true; do echo \"health $({PROBES[str(self.variant['probe'])]})\"; sleep 1; done"
        )
        lab.action("run a web service that probes itself quietly")
        web = lab.deploy(WorkloadSpec(role="web", command=("sh", "-c", script)))

        def logged() -> bool:
            text = lab.logs(web)
            return "health 200" in text and '"GET / HTTP/1.1" 200' in text

        lab.wait_for(logged, timeout=20, what="the health lines and the access lines to reach the pod's log")
