"""kubectl exec into a running pod to read what its process can read."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class ExecIntoPod(Scenario):
    id = "kubernetes.exec.exec-into-pod"
    title = "Shell commands run in a running pod through the API server (kubectl exec)"
    kind = Kind.ADVERSARY
    techniques = ("T1609",)
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.exec-into-pod",), within_s=20, may_fire={
        "stowaway.host.exec-from-temp-dir": "It really runs the script it dropped into the pod's /tmp (/tmp/.u).",
    })
    tags = ("kubernetes", "execution")
    description = (
        "Runs a web server pod (python3 http.server), then, through kubectl exec, reads its "
        "environment and process list and drops a script into /tmp, as an intruder holding a "
        "kubeconfig would. The scenario checks the script landed in the pod."
    )

    def detonate(self, lab: Lab) -> None:
        pod = lab.deploy(WorkloadSpec(role="web", command=("python3", "-m", "http.server", "8080"),
                                      env={"DB_PASSWORD": "hunter2"}))
        lab.action("kubectl exec into the pod")
        lab.exec(pod, "sh", "-c", "env; ps -eo pid,comm; printf '#!/bin/sh\\nid\\n' > /tmp/.u && chmod +x /tmp/.u")
        if "uid=" not in lab.exec(pod, "/tmp/.u").output:
            raise AssertionError("the dropped script did not run in the pod")
