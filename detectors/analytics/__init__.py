"""Python analytics for stateful logic. ``default_analytics`` builds the set the monitor runs."""

from __future__ import annotations

import lab.plugins as plugins
from detectors.analytics.base import Analytic
from detectors.policies import Policy

# Each entry builds one analytic from the loaded policy. Detection slices append to this list.
FACTORIES: list = []

from detectors.analytics.resource_baseline import CpuSpike, MemorySpike  # noqa: E402 - after FACTORIES

FACTORIES.extend([CpuSpike, MemorySpike])


def installed_factories() -> list:
    """Analytic factories installed packages declare (``stowaway.analytics`` entry points)."""
    found = []
    for plugin in plugins.load("stowaway.analytics"):
        if not callable(plugin.target) or not isinstance(getattr(plugin.target, "rule_id", None), str):
            raise plugins.PluginError(f"{plugin.where()}: must be a callable(Policy) -> Analytic with a rule_id")
        found.append(plugin.target)
    return found


def default_analytics(policy: Policy) -> list[Analytic]:
    return [factory(policy) for factory in [*FACTORIES, *installed_factories()]]


def analytic_ids() -> set[str]:
    return {factory.rule_id for factory in [*FACTORIES, *installed_factories()]}


__all__ = ["FACTORIES", "Analytic", "analytic_ids", "default_analytics"]

# Network slice: beaconing, baselines, volume and relays (detectors/analytics/net_*.py).
from detectors.analytics.net_baseline import NewPeerAnalytic  # noqa: E402
from detectors.analytics.net_beacon import BeaconAnalytic  # noqa: E402
from detectors.analytics.net_relay import RelayAnalytic  # noqa: E402
from detectors.analytics.net_volume import VolumeAnalytic  # noqa: E402

FACTORIES += [NewPeerAnalytic, BeaconAnalytic, VolumeAnalytic, RelayAnalytic]

# Runtime and orchestrator slice: log deletion under a running container, swarm spec drift.
from detectors.analytics.container_logs import ContainerLogDeleted  # noqa: E402
from detectors.analytics.swarm_drift import ServiceSpecDrift  # noqa: E402

FACTORIES += [ContainerLogDeleted, ServiceSpecDrift]
