"""A platform for unit tests: a real signing key, real signatures, a network inventory, in tmp_path.

Sanctions bind to what the platform publishes (``lab.provenance`` signatures, the network
inventory). Unit tests build one here with the lab's own functions, so that a test of a sanction
exercises the same verification a live run does. Events in these tests are hand-made; each test
says so where it builds them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from detectors.policies import DEFAULT_POLICY_DIR, Policy, load_policy
from lab.provenance import load_or_create_key, public_key_text, sign

SIGNER = "platform-image-pipeline"


@dataclass
class PlatformKit:
    root: Path
    networks: list[dict[str, object]] = field(default_factory=list)

    @property
    def store(self) -> Path:
        return self.root / "signatures"

    @property
    def published(self) -> Path:
        return self.root / "published"

    def sign(self, image_id: str, identity: str, command: list[str] | None = None) -> str:
        key = load_or_create_key(self.root / "key" / "signing-key.pem")
        sign(key, self.store, image_id, identity, command)
        return image_id

    def network(self, network_id: str, purpose: str, orchestrated: bool = False) -> str:
        self.networks.append({"id": network_id, "network": f"net-{purpose}", "purpose": purpose,
                              "orchestrated": orchestrated})
        return network_id

    def publish(self) -> Path:
        key = load_or_create_key(self.root / "key" / "signing-key.pem")
        self.published.mkdir(parents=True, exist_ok=True)
        self.store.mkdir(parents=True, exist_ok=True)
        (self.published / "platform-trust.yaml").write_text(
            f"kind: trust\nsigners:\n  - name: {SIGNER}\n    owner: platform-team\n    description: unit tests\n"
            f"    public_key: \"{public_key_text(key.public_key())}\"\n    signatures: \"{self.store}\"\n")
        body = "".join(f"  - {json.dumps(n)}\n" for n in self.networks)
        (self.published / "platform-networks.yaml").write_text(
            "kind: platform_networks\nnetworks:\n" + body if body else "kind: platform_networks\nnetworks: []\n")
        return self.published

    def policy(self, *dirs: Path, shipped: bool = True) -> Policy:
        return load_policy([*([DEFAULT_POLICY_DIR] if shipped else []), *dirs, self.publish()])
