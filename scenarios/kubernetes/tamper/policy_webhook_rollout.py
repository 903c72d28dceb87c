"""The platform's CD deployer installs its policy engine's validating webhook, as it rolls out every component."""

from __future__ import annotations

import json

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._accounts import bound_account


class PolicyWebhookRollout(Scenario):
    id = "kubernetes.tamper.policy-webhook-rollout"
    title = "Approved deployer registers the policy engine's validating webhook (an in-cluster Service)"
    kind = Kind.BENIGN
    techniques = ("T1562.001",)
    backends = ("kubernetes",)
    expect = Expectation(silent=("stowaway.k8s.admission-config-change",), window_s=10)
    twin = "kubernetes.tamper.admission-webhook"
    tags = ("kubernetes", "approved-rollout")
    parallel_safe = False  # the platform namespace and its deployer account are fixed names
    description = (
        "Sets up the CD pipeline's identity as the platform team does (the platform namespace, the "
        "deployer service account, a ClusterRole that may manage validating webhook configurations) and, "
        "authenticated with the deployer's token, registers the policy engine's "
        "ValidatingWebhookConfiguration: pods in namespaces labelled for enforcement are sent to the "
        "policy-engine Service in the platform namespace, failurePolicy Ignore while the engine rolls "
        "out. The scenario checks the configuration is stored as the deployer wrote it. The policy names "
        "this deployer as approved; the adversary twin registers a webhook with the lab's admin "
        "credential instead, pointing outside the cluster."
    )

    def detonate(self, lab: Lab) -> None:
        token = bound_account(lab, "platform", "deployer", lab.name("webhook-installer"), rules=[
            {"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations"],
             "verbs": ["create", "get", "update", "delete"]}])
        name = lab.name("policy-engine")
        webhook = {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [{
                "name": "pods.policy-engine.platform.example",
                "clientConfig": {"service": {"namespace": "platform", "name": "policy-engine",
                                             "path": "/validate", "port": 443}},
                "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                           "resources": ["pods"]}],
                "namespaceSelector": {"matchLabels": {"policy.platform.example/enforce": "true"}},
                "failurePolicy": "Ignore", "sideEffects": "None", "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 2,
            }],
        }
        lab.action("the deployer registers the policy engine's validating webhook")
        lab.apply(webhook, token=token)
        stored = json.loads(lab.kubectl("get", "validatingwebhookconfiguration", name, "-o", "json").output)
        service = stored["webhooks"][0]["clientConfig"].get("service") or {}
        if (service.get("namespace"), service.get("name")) != ("platform", "policy-engine"):
            raise AssertionError(f"the stored webhook does not point at the policy engine: {service}")
