"""What the platform tells its detectors about provenance: who signs images, which networks it made.

``Platform`` is what sanctions consult: the verified provenance of an image id (policy kind
``trust``, ``detectors.policy_kinds.trust``) and the platform's record of a network id (kind
``platform_networks``). Both fail closed: no trust policy, no provenance; an unknown network id is
not the platform's. A name, a label or a tag never enters either answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lab.provenance import Provenance

if TYPE_CHECKING:
    from detectors.policies import Policy
    from detectors.policy_kinds.platform_networks import PlatformNetwork


class Platform:
    """The platform's answers, from whichever of its published policies were loaded (fail closed)."""

    def __init__(self, policy: Policy | None) -> None:
        self._policy = policy

    def provenance(self, image_id: Any) -> tuple[Provenance, ...]:
        if not image_id:  # no image id, no provenance, whatever the trust policy (asked per event)
            return ()
        trust = self._policy.section("trust") if self._policy is not None else None
        return trust.provenance(image_id) if trust is not None else ()

    def network(self, network_id: Any) -> PlatformNetwork | None:
        networks = self._policy.section("platform_networks") if self._policy is not None else None
        return networks.network(network_id) if networks is not None else None


UNBOUND = Platform(None)
