"""A subnet the host already routes (another engine's bridge, a leftover device) is not free."""

from __future__ import annotations

import ipaddress

from lab.networks import host_routes

ROUTE = """Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT
eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
stw-old-lan\t000012C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
broken\tzz\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""


def test_routes_inside_the_lab_range_are_read_and_the_rest_ignored(tmp_path):
    table = tmp_path / "route"
    table.write_text(ROUTE)
    assert host_routes(table) == [ipaddress.IPv4Network("198.18.0.0/24")]  # not the default, not 172.17/16


def test_no_route_table_means_nothing_known(tmp_path):
    assert host_routes(tmp_path / "absent") == []
