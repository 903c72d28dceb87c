"""EventWindow: which events it keeps, its bounds, and the flows it derives. Events are hand-made in
the shapes the sensors emit (tracefs-exec, tracefs-tcp, packets, netns-nat, fim)."""

from __future__ import annotations

import threading

import pytest

from harness.response.window import EventWindow, destination_of, flows_from, kind_of, redirect_of

A = "a" * 64
B = "b" * 64
SINK = "198.19.0.10"


def exec_event(cid: str = A, at: float = 100.0, exe: str = "/usr/local/bin/syncd", **extra: object) -> dict:
    return {"event.id": f"linux-{at}", "event.module": "linux", "event.dataset": "linux.process",
            "event.action": "exec", "event.category": "process", "event.created": at, "container.id": cid,
            "container.name": "app-1", "container.labels.app": "ledger", "container.command": ["sleep", "inf"],
            "process.pid": 4242, "process.executable": exe, "process.name": exe.rsplit("/", 1)[-1], **extra}


def tcp_event(cid: str = A, at: float = 101.0, action: str = "connection_attempted", dest: str = SINK,
              port: int = 443, direction: str = "egress", skaddr: str = "ffff01") -> dict:
    return {"event.id": f"tracefs-{at}", "event.module": "tracefs", "event.dataset": "tracefs.tcp",
            "event.action": action, "event.category": "network", "event.created": at, "container.id": cid,
            "destination.ip": dest, "destination.port": port, "network.transport": "tcp",
            "network.direction": direction, "process.name": "python3", "tracefs.skaddr": skaddr,
            "observer.name": "tracefs-tcp"}


def flow_event(cid: str = A, at: float = 101.0, action: str = "start", flow_id: str = "f1", size: int = 120,
               dest: str = SINK, port: int = 443) -> dict:
    return {"event.id": f"network-{at}-{action}", "event.module": "network", "event.dataset": "network.flow",
            "event.action": action, "event.category": "network", "event.created": at, "event.start": at,
            "event.end": at + 0.5, "flow.id": flow_id, "network.transport": "tcp", "network.bytes": size,
            "source.ip": "198.19.0.20", "source.port": 40000, "destination.ip": dest, "destination.port": port,
            "container.id": cid, "observer.name": "packets"}


def nat_event(cid: str = A, at: float = 102.0, to_ip: str = SINK, to_port: str = "4444") -> dict:
    return {"event.id": f"netns-{at}", "event.module": "netns", "event.dataset": "netns.nat",
            "event.action": "nat_rule_added", "event.category": "network", "event.created": at, "container.id": cid,
            "nat.target": "DNAT", "nat.to.ip": to_ip, "nat.to.port": to_port, "nat.match.protocol": "tcp"}


def fim_event(cid: str = A, at: float = 103.0, sha: str = "ab" * 32) -> dict:
    return {"event.id": f"linux-fim-{at}", "event.module": "linux", "event.dataset": "linux.fim",
            "event.action": "modified", "event.category": "file_change", "event.created": at, "container.id": cid,
            "file.path": "/var/lib/docker/overlay2/x/merged/etc/ld.so.preload", "file.hash.sha256": sha}


def test_kinds_follow_what_each_sensor_emits():
    assert kind_of(exec_event()) == "process"
    assert kind_of(tcp_event()) == "network"
    assert kind_of(flow_event()) == "network"
    assert kind_of(nat_event()) == "network"
    assert kind_of(fim_event()) == "file"
    assert kind_of({"event.dataset": "docker.container", "event.action": "start", "container.id": A}) is None
    assert kind_of({"event.category": ["network", "connection"], "event.dataset": "x"}) == "network"


def test_keeps_each_containers_events_trimmed_and_in_time_order():
    window = EventWindow()
    for event in (tcp_event(at=101.0), exec_event(at=100.0), fim_event(at=103.0), flow_event(B, at=101.5),
                  {"event.dataset": "docker.container", "container.id": A, "event.created": 99.0},
                  exec_event(cid="", at=100.0), {"event.dataset": "linux.process", "event.created": 1.0}):
        window.tap(event)
    assert sorted(window.all_containers()) == [A, B]
    events = window.events_for(A)
    assert [e["event.created"] for e in events] == [100.0, 101.0, 103.0]
    assert "container.labels.app" not in events[0] and "container.command" not in events[0]
    assert events[0]["process.executable"] == "/usr/local/bin/syncd"
    assert [e["event.created"] for e in window.events_for(A, since=100.5, until=102.0)] == [101.0]
    assert [e["event.dataset"] for e in window.events_for(A, kinds=("file",))] == ["linux.fim"]
    events[0]["process.name"] = "changed"  # callers get copies
    assert window.events_for(A)[0]["process.name"] == "syncd"


def test_a_container_keeps_its_most_recent_events_and_counts_the_rest():
    window = EventWindow(max_events=3)
    for at in range(5):
        window.tap(exec_event(at=float(at)))
    assert [e["event.created"] for e in window.events_for(A)] == [2.0, 3.0, 4.0]
    assert window.dropped.events == 2 and window.dropped.containers == 0


def test_past_the_container_bound_the_least_recently_active_is_forgotten():
    window = EventWindow(max_events=10, max_containers=2)
    window.tap(exec_event(A, at=1.0))
    window.tap(exec_event(A, at=2.0))
    window.tap(exec_event(B, at=3.0))
    window.tap(exec_event(A, at=4.0))  # A is now the most recently active
    window.tap(exec_event("c" * 64, at=5.0))
    assert sorted(window.all_containers()) == sorted([A, "c" * 64])
    assert window.dropped.containers == 1 and window.dropped.events == 1


@pytest.mark.parametrize("bad", [None, {"container.id": A, "event.category": "process", "event.created": "soon"},
                                 {"container.id": ["x"], "event.category": "process"}, "not an event"])
def test_the_tap_never_raises_on_malformed_telemetry(bad):
    window = EventWindow()
    window.tap(bad)  # a tap that raises is removed by the Monitor: it must not
    window.tap(exec_event())
    assert len(window.events_for(A)) == 1


def test_malformed_events_are_counted():
    window = EventWindow()
    window.tap({"container.id": A, "event.category": "process", "event.created": "soon"})
    assert window.dropped.malformed == 1


def test_concurrent_taps_lose_nothing_they_did_not_count():
    window = EventWindow(max_events=100, max_containers=8)

    def feed(worker: int) -> None:
        for i in range(500):
            window.tap(exec_event(cid=f"{worker % 10:x}" * 64, at=float(i)))

    threads = [threading.Thread(target=feed, args=(w,)) for w in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    held = sum(len(window.events_for(c)) for c in window.all_containers())
    assert window.kept == 5000
    assert held + window.dropped.events == 5000
    assert len(window.all_containers()) <= 8


def test_a_closed_window_keeps_nothing_more():
    window = EventWindow()
    window.tap(exec_event(at=1.0))
    window.close()
    window.tap(exec_event(at=2.0))
    assert len(window.events_for(A)) == 1


def test_destinations_leave_out_accepted_connections_and_read_nat_targets():
    assert destination_of(tcp_event()) == f"{SINK}:443/tcp"
    assert destination_of(tcp_event(direction="ingress")) is None
    assert destination_of(exec_event()) is None
    assert redirect_of(nat_event()) == f"{SINK}:4444/tcp"
    assert destination_of({"destination.ip": "fd00::1", "destination.port": 53, "network.transport": "udp"}) \
        == "[fd00::1]:53/udp"
    assert destination_of({"destination.ip": "not an address", "destination.port": 1}) is None


def test_flows_count_connections_once_across_sensors():
    events = [
        # connection 1: seen by the packet sensor (start, update, end) and the tcp-state sensor
        flow_event(at=10.0, action="start", flow_id="f1", size=60), flow_event(at=10.5, action="update", flow_id="f1",
                                                                            size=300),
        flow_event(at=11.0, action="end", flow_id="f1", size=400),
        tcp_event(at=10.0, action="connection_attempted", skaddr="s1"),
        tcp_event(at=10.01, action="connection_established", skaddr="s1"),
        # connection 2: the tcp-state sensor only (the packet sensor lost it)
        tcp_event(at=20.0, action="connection_attempted", skaddr="s1"),
        # somebody connected to the container: not a destination it called
        tcp_event(at=30.0, action="connection_accepted", dest="198.19.0.20", port=8080, direction="ingress"),
        nat_event(),  # a rule, not a flow
    ]
    flows = {(f.destination, f.direction): f for f in flows_from(events)}
    out = flows[(f"{SINK}:443/tcp", "egress")]
    assert out.count == 2
    assert out.first_seen == 10.0 and out.last_seen == 20.0
    assert out.bytes == 400
    assert out.sensors == ("packets", "tracefs-tcp") and out.processes == ("python3",)
    assert flows[("198.19.0.20:8080/tcp", "ingress")].count == 1
    assert len(flows) == 2
    assert out.to_dict()["destination"] == f"{SINK}:443/tcp"
