"""An operator looks at a pod the read-only ways: its log, its description, and its port through port-forward."""

from __future__ import annotations

import urllib.request

from lab import Lab, LabError, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class OperatorReadOnly(Scenario):
    id = "kubernetes.exec.operator-read-only"
    title = "Operator reads a pod's log and description and reaches its port through kubectl port-forward"
    kind = Kind.BENIGN
    techniques = ("T1609",)
    backends = ("kubernetes",)
    expect = Expectation(silent=("stowaway.k8s.exec-into-pod",), window_s=10)
    twin = "kubernetes.exec.exec-into-pod"
    tags = ("kubernetes", "operations")
    description = (
        "Runs a web server pod, then does what an on-call operator does with kubectl short of running "
        "anything in it: reads its log and its description, and opens kubectl port-forward to its port "
        "from this machine's loopback and fetches a page through it (a pods/portforward request to the "
        "API server, which the audit log records beside exec and attach). The scenario checks the page "
        "came back and the server logged the request. The exec rule must stay silent: port-forward "
        "reaches a port, it runs nothing in the pod."
    )

    def detonate(self, lab: Lab) -> None:
        pod = lab.deploy(WorkloadSpec(role="web", command=("python3", "-m", "http.server", "8080")))
        namespace = pod.namespace or "default"
        lab.action("read the pod's log and description, then port-forward to it")
        lab.kubectl("describe", "pod", "-n", namespace, pod.name)
        lab.logs(pod)
        # Loopback only: the forwarder carries it through the API server to the pod.
        with lab.port_forward(pod, 8080) as local, \
                urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=10) as response:
            status = response.status
        if status != 200:
            raise LabError(f"the page through port-forward answered {status}")
        lab.wait_for(lambda: '"GET / HTTP/1.1" 200' in lab.logs(pod), timeout=10,
                     what="the server to log the forwarded request")
