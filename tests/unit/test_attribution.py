from detectors.sensors.attribution import parse_cgroup

CID = "a" * 64
INNER = "b" * 64


def test_cgroup_v1_docker():
    text = f"12:memory:/docker/{CID}\n11:cpu,cpuacct:/docker/{CID}\n1:name=systemd:/docker/{CID}\n"
    assert parse_cgroup(text).container_id == CID


def test_cgroup_v2_systemd_scope():
    assert parse_cgroup(f"0::/system.slice/docker-{CID}.scope\n").container_id == CID


def test_nested_kind_node_pod():
    text = f"4:memory:/docker/{CID}/kubepods/besteffort/pod1234/{INNER}\n"
    found = parse_cgroup(text)
    assert found.container_id == CID and found.inner_ids == (INNER,)


def test_host_process_is_not_a_container():
    assert parse_cgroup("12:memory:/\n0::/user.slice/session-1.scope\n") is None


def test_short_hex_is_not_an_id():
    assert parse_cgroup("12:memory:/docker/abc123\n") is None
