"""The address -> container view: a departed container's address goes to the next container fast."""

from __future__ import annotations

import time
from typing import Any

from detectors.sensors.netinventory import Inventory


class FakeEngineApi:
    """The two listing calls the inventory makes, answered from a mutable list (a unit-test boundary)."""

    def __init__(self) -> None:
        self.running: list[dict[str, Any]] = []
        self.listings = 0

    def containers(self) -> list[dict[str, Any]]:
        self.listings += 1
        return list(self.running)

    def networks(self) -> list[dict[str, Any]]:
        return [{"Id": "n" * 64, "Name": "inet", "Driver": "bridge",
                 "IPAM": {"Config": [{"Subnet": "198.18.8.0/24"}]}}]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        return {"Config": {"Entrypoint": None, "Cmd": ["sleep", "infinity"]}}


class FakeClient:
    def __init__(self) -> None:
        self.api = FakeEngineApi()


def container(cid: str, address: str) -> dict[str, Any]:
    return {"Id": cid, "Names": [f"/{cid[:6]}"], "Image": "base", "ImageID": "sha256:" + "1" * 64,
            "NetworkSettings": {"Networks": {"inet": {"IPAddress": address, "NetworkID": "n" * 64}}}}


def test_an_address_handed_to_a_new_container_is_not_pinned_on_the_departed_one() -> None:
    client = FakeClient()
    inventory = Inventory(client, refresh_s=3600, miss_refresh_s=0.0)  # only what lookups trigger
    old, new = "a" * 64, "b" * 64
    client.api.running = [container(old, "198.18.8.5")]
    inventory.refresh(force=True)
    assert inventory.by_ip("198.18.8.5").id == old
    client.api.running = []
    inventory.refresh(force=True)
    assert inventory.by_ip("198.18.8.5").id == old  # its last packets are still its own
    client.api.running = [container(new, "198.18.8.5")]  # the engine reuses the address at once
    assert inventory.by_ip("198.18.8.5").id == new


def test_a_departed_container_forces_at_most_one_refresh_per_interval() -> None:
    client = FakeClient()
    inventory = Inventory(client, refresh_s=3600, miss_refresh_s=60)
    client.api.running = [container("a" * 64, "198.18.8.5")]
    inventory.refresh(force=True)
    client.api.running = []
    inventory.refresh(force=True)
    before = client.api.listings
    for _ in range(10):
        assert inventory.by_ip("198.18.8.5").id == "a" * 64
    assert client.api.listings - before <= 1


def test_a_container_newer_than_the_view_is_found_by_its_first_packet() -> None:
    client = FakeClient()
    inventory = Inventory(client, refresh_s=3600)
    inventory.refresh(force=True)
    client.api.running = [container("c" * 64, "198.18.8.9")]  # started after the last refresh
    assert inventory.by_ip("198.18.8.9").id == "c" * 64
    assert inventory.by_id("c" * 64).addresses == ("198.18.8.9",)


def test_a_packet_seen_after_the_view_is_not_pinned_on_a_departed_container() -> None:
    client = FakeClient()
    inventory = Inventory(client, refresh_s=3600, miss_refresh_s=60)  # the throttle alone would return stale
    client.api.running = [container("a" * 64, "198.18.8.5")]
    inventory.refresh(force=True)
    client.api.running = []
    inventory.refresh(force=True)
    view_taken = time.time()
    assert inventory.by_ip("198.18.8.5", at=view_taken - 1).id == "a" * 64  # its own last packets
    client.api.running = [container("b" * 64, "198.18.8.5")]  # started since, on the same address
    assert inventory.by_ip("198.18.8.5", at=time.time() + 0.001).id == "b" * 64
