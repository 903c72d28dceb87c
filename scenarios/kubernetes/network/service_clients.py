"""A web app and its clients the way real apps talk: a Deployment behind a Service, by DNS name,
across nodes, with a NetworkPolicy that admits only the app's own clients."""

from __future__ import annotations

import secrets

from lab import Lab
from scenarios.api import Expectation, Kind, Scenario

SERVER = ("import http.server, socket\n"
          "class H(http.server.BaseHTTPRequestHandler):\n"
          "    def do_GET(self):\n"
          "        body = socket.gethostname().encode()\n"
          "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
          "        self.wfile.write(body)\n"
          "    def log_message(self, *args):\n"
          "        pass\n"
          "http.server.ThreadingHTTPServer(('', 8080), H).serve_forever()\n")
# Twenty requests through the Service's DNS name; prints one line per request: the replica that
# answered, or "refused"/"timeout". Bounded: twenty tries of at most 2 s each.
CLIENT = ("import socket, time, urllib.request\n"
          "for _ in range(20):\n"
          "    try:\n"
          "        print(urllib.request.urlopen('http://catalog/', timeout=2).read().decode(), flush=True)\n"
          "    except OSError as exc:\n"
          "        print('timeout' if 'timed out' in str(exc) else 'refused', flush=True)\n"
          "    time.sleep(0.2)\n"
          "time.sleep(3600)\n")


class ServiceClients(Scenario):
    id = "kubernetes.network.service-clients"
    title = "Storefront calls its catalog Service by name, across nodes, behind a NetworkPolicy"
    kind = Kind.BENIGN
    techniques = ("T1071.001",)
    backends = ("kubernetes",)
    expect = Expectation(silent=("stowaway.k8s.privileged-pod", "stowaway.k8s.host-namespace-pod",
                                 "stowaway.k8s.hostpath-mount", "stowaway.k8s.exec-into-pod"), window_s=10)
    tags = ("kubernetes", "network")
    description = (
        "In a namespace of its own: a catalog Deployment of two replicas spread over the workers, a "
        "ClusterIP Service in front of it, and a NetworkPolicy that admits to the catalog only pods "
        "labelled app=storefront. A storefront pod calls http://catalog/ twenty times through CoreDNS "
        "and kube-proxy; an unlabelled pod in the same namespace tries the same. The scenario reads "
        "both pods' logs (no exec): the storefront must have been answered by both replicas (so by "
        "two nodes), and the other pod never (its connections are dropped by the lab's enforcer, "
        "kube-network-policies, so it times out)."
    )

    def detonate(self, lab: Lab) -> None:
        namespace = f"shop-{secrets.token_hex(3)}"
        app = {"app": "catalog"}
        lab.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        lab.action("deploy a catalog behind a Service and a NetworkPolicy, and clients that call it by name")
        lab.apply({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "catalog", "namespace": namespace},
            "spec": {"replicas": 2, "selector": {"matchLabels": app}, "template": {
                "metadata": {"labels": app},
                "spec": {
                    "terminationGracePeriodSeconds": 1, "automountServiceAccountToken": False,
                    # One replica per worker: the Service then has to route across nodes.
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                   "whenUnsatisfiable": "DoNotSchedule", "labelSelector":
                                                   {"matchLabels": app}}],
                    "containers": [{"name": "catalog", "image": lab.image, "imagePullPolicy": "IfNotPresent",
                                    "command": ["python3", "-c", SERVER], "ports": [{"containerPort": 8080}],
                                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}],
                },
            }},
        })
        lab.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "catalog", "namespace": namespace},
                   "spec": {"selector": app, "ports": [{"port": 80, "targetPort": 8080}]}})
        lab.apply({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "catalog-clients", "namespace": namespace},
            "spec": {"podSelector": {"matchLabels": app}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "storefront"}}}],
                                  "ports": [{"port": 8080}]}]},
        })

        def replicas_ready() -> bool:
            ready = lab.kubectl("get", "deployment", "-n", namespace, "catalog", "-o",
                                "jsonpath={.status.readyReplicas}").output.strip()
            return ready == "2"

        lab.wait_for(replicas_ready, timeout=90, what="both catalog replicas to be ready")
        clients = {}
        for role, labels in (("storefront", {"app": "storefront"}), ("visitor", {})):
            clients[role] = lab.apply({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": role, "namespace": namespace, "labels": labels},
                "spec": {"terminationGracePeriodSeconds": 1, "automountServiceAccountToken": False,
                         "restartPolicy": "Never",
                         "containers": [{"name": role, "image": lab.image, "imagePullPolicy": "IfNotPresent",
                                         "command": ["python3", "-c", CLIENT]}]},
            })[0]

        def answers(role: str) -> list[str]:
            result = lab.kubectl("logs", "-n", namespace, clients[role].name, check=False)
            return result.output.split() if result.exit_code == 0 else []

        lab.wait_for(lambda: len(answers("storefront")) >= 20 and len(answers("visitor")) >= 20, timeout=120,
                     what="both clients to finish their twenty requests")
        served = {line for line in answers("storefront") if line not in ("refused", "timeout")}
        if len(served) < 2:
            raise AssertionError(f"the Service did not route the storefront to both replicas: {answers('storefront')}")
        let_in = [line for line in answers("visitor") if line not in ("refused", "timeout")]
        if let_in:
            raise AssertionError(f"the NetworkPolicy let an unlabelled pod reach the catalog: {let_in}")
        if set(answers("visitor")) != {"timeout"}:
            # A drop by the policy times out; refused would be the Service with no ready endpoint.
            raise AssertionError(f"the visitor's requests were not all dropped: {answers('visitor')}")
