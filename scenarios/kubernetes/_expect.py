"""Collateral the Kubernetes scenarios share, said once."""

from __future__ import annotations

# A scenario whose operator uses what it deployed (lists the node's processes, runs nsenter, sets NAT
# rules) does it with `kubectl exec`, as a real one would: the exec rule may fire beside its own.
OPERATOR_EXEC = {
    "stowaway.k8s.exec-into-pod": "The operator really execs into the pod it deployed with kubectl to use what "
                                  "it gained there.",
}
