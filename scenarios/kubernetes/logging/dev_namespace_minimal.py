"""A developer's scratch pod in a sanctioned dev namespace, with log shipping turned off."""

from __future__ import annotations

import secrets

from lab import Lab, Logging, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._accounts import bound_account


class DevNamespaceMinimal(Scenario):
    id = "kubernetes.logging.dev-namespace-minimal"
    title = "Sanctioned dev namespace runs a scratch pod without log shipping"
    kind = Kind.BENIGN
    techniques = ("T1562.001",)
    backends = ("kubernetes",)
    expect = Expectation(silent=("stowaway.k8s.logs-hidden",), window_s=10)
    twin = "kubernetes.logging.shipper-opt-out"
    tags = ("kubernetes", "logging")
    parallel_safe = False  # the platform namespace and its deployer account are fixed names
    description = (
        "Provisions a developer namespace the way the platform does: the platform's CD deployer "
        "(a service account in the platform namespace, allowed to create namespaces) creates dev-<hex> "
        "with its own token; the policy sanctions minimal logging in dev-* namespaces that deployer "
        "created. A developer (the lab's admin kubeconfig) then runs in it a scratch web server pod "
        "that opts out of log shipping and sends its output to /dev/null, and a second pod that "
        "fetches from it a few times, as a developer trying something out would. The scenario checks "
        "the client's fetch succeeded (its pod completes) without exec-ing into anything."
    )

    def detonate(self, lab: Lab) -> None:
        token = bound_account(lab, "platform", "deployer", lab.name("namespace-provisioner"), rules=[
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["create", "get", "delete"]}])
        namespace = f"dev-{secrets.token_hex(3)}"
        lab.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, token=token)
        lab.action("run scratch pods without log shipping in a dev namespace")
        server = lab.deploy(WorkloadSpec(
            role="scratch", logging=Logging(driver="none"), constraints=(f"namespace={namespace}",),
            command=("sh", "-c", "exec python3 -m http.server 8000 --directory /etc >/dev/null 2>&1"),
        ))
        address = server.addresses["pod"]
        # Up to about 60 s of tries (a purple-team run saw 30 s pass without an answer, once).
        fetch = (f"for i in $(seq 1 20); do curl -sf -m 2 http://{address}:8000/hostname "
                 ">/dev/null && exit 0; sleep 1; done; exit 1")
        client = lab.deploy(WorkloadSpec(role="scratch-client", logging=Logging(driver="none"),
                                         constraints=(f"namespace={namespace}",), command=("sh", "-c", fetch)))

        def finished() -> bool:
            phase = lab.kubectl("get", "pod", "-n", namespace, client.name, "-o",
                                "jsonpath={.status.phase}").output.strip()
            if phase == "Failed":
                raise AssertionError("the scratch client could not fetch from the scratch server")
            return phase == "Succeeded"

        # Longer than the client's own loop, so that a client that gives up is told apart from a slow one.
        lab.wait_for(finished, timeout=75, what="the scratch client to fetch from the server")
