"""tracefs TCP state lines and container NAT tables, parsed from recorded kernel and iptables output."""

from __future__ import annotations

from pathlib import Path

from detectors.sensors.nat import parse_nat_table
from detectors.sensors.tracefs_tcp import TcpStateSensor, instance_name, parse_line

NET = Path(__file__).parent.parent / "fixtures" / "net"
CID = "d2809a5b7c45bac77ae4a9a66752afce6cd5090c998671c9c605a6a781574e4d"


def trace_lines() -> list[str]:
    return (NET / "inet_sock_set_state.trace").read_text().splitlines()


def test_trace_lines_parse_with_socket_addresses_ports_and_states():
    changes = [parse_line(line) for line in trace_lines()]
    assert all(c is not None for c in changes)
    connect = next(c for c in changes if c.newstate == "SYN_SENT")
    assert connect.oldstate == "CLOSE"
    assert connect.saddr == "127.0.0.1" and connect.daddr == "127.0.0.1"
    assert connect.dport == 36853 and connect.sport == 0  # the port is chosen just after SYN_SENT
    established = next(c for c in changes if c.skaddr == connect.skaddr and c.newstate == "ESTABLISHED")
    assert established.sport == 46680


def test_other_lines_are_not_state_changes():
    assert parse_line("# tracer: nop") is None
    assert parse_line("           <...>-1 [000] ..... 1.0: sched_process_exec: filename=/bin/sh") is None


def fake_proc(root: Path, pid: int, container: str | None) -> str:
    proc = root / str(pid)
    proc.mkdir(parents=True)
    path = f"/docker/{container}" if container else "/"
    (proc / "cgroup").write_text(f"4:memory:{path}\n0::{path}\n")
    (proc / "status").write_text(f"Name:\tcurl\nTgid:\t{pid}\nPPid:\t1\n")
    (proc / "cmdline").write_bytes(b"curl\x00-s\x00http://198.19.0.10/\x00")
    return str(root)


def test_connect_is_attributed_at_syn_sent_and_joined_to_its_outcome_by_socket(tmp_path):
    sensor = TcpStateSensor("20261129-000000-abcdef", proc=fake_proc(tmp_path, 14438, CID))
    events = [e for line in trace_lines() for e in sensor.events_for(parse_line(line))]
    actions = [e["event.action"] for e in events]
    assert actions[:2] == ["connection_attempted", "connection_established"]
    attempt, established = events[0], events[1]
    assert attempt["container.id"] == CID
    assert attempt["process.pid"] == 14438
    assert attempt["process.command_line"] == "curl -s http://198.19.0.10/"
    assert attempt["destination.port"] == 36853
    # The ESTABLISHED record runs in softirq context: process and container come from the SYN_SENT.
    assert established["container.id"] == CID and established["source.port"] == 46680
    assert "connection_accepted" in actions


def test_host_processes_are_reported_without_a_container(tmp_path):
    sensor = TcpStateSensor("20261129-000000-abcdef", proc=fake_proc(tmp_path, 14438, None))
    attempt = next(e for line in trace_lines() for e in sensor.events_for(parse_line(line)))
    assert "container.id" not in attempt
    assert sensor.stats["unattributed"] == 1


def test_instance_name_is_the_one_the_reaper_knows():
    assert instance_name("20261129-101225-5e6976") == "stowaway-20261129-101225-5e6976-tcp"


def test_nat_table_gives_each_redirecting_rule_with_its_target():
    rules = parse_nat_table((NET / "nat_table.iptables-save").read_text(), backend="nft")
    by_target = {}
    for rule in rules:
        by_target.setdefault(rule.target, []).append(rule)
    dnat_out = [r for r in by_target["DNAT"] if r.match_ip == "198.18.0.99"]
    assert len(dnat_out) == 1
    assert (dnat_out[0].to_ip, dnat_out[0].to_port, dnat_out[0].match_port) == ("198.19.2.10", "80", "80")
    assert dnat_out[0].chain == "OUTPUT" and dnat_out[0].protocol == "tcp"
    # The engine's embedded DNS rules are there too, and point to loopback.
    assert {r.to_ip for r in by_target["DNAT"]} == {"198.19.2.10", "127.0.0.11"}
    redirect = by_target["REDIRECT"][0]
    assert (redirect.to_ip, redirect.to_port) == ("127.0.0.1", "15001")
    assert [r.match_ip for r in by_target["MASQUERADE"]] == ["198.19.2.10"]
    assert all(r.backend == "nft" for r in rules)


def test_nat_parser_ignores_other_tables_and_plain_jumps():
    text = "*filter\n-A INPUT -j DNAT --to-destination 198.19.0.10\nCOMMIT\n*nat\n-A OUTPUT -j DOCKER_OUTPUT\nCOMMIT\n"
    assert parse_nat_table(text) == []
