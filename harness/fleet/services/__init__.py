"""Every service of the realistic benign fleet, one tier per module, in one registry."""

from __future__ import annotations

from harness.fleet.registry import Registry
from harness.fleet.services import ci, data, egress, inventory, reports, storefront

SERVICES = Registry([*data.SERVICES, *storefront.SERVICES, *reports.SERVICES, *egress.SERVICES,
                     *inventory.SERVICES, *ci.SERVICES])
