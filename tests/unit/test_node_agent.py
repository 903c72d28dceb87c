"""The node agent: containerd's bundles as container facts, the wire, the agent loop, and the reader.

The container runtime is the faked boundary here (a directory laid out as containerd lays out its
task bundles); the processes, /proc and the files the sensors read are real.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from detectors.agent import wire
from detectors.agent.node import NodeAgent
from detectors.sensors import containerd
from detectors.sensors.containerd import ContainerdSource, overlay_layers
from detectors.sensors.node_agent import NodeAgentStream, stamp_key
from harness import node_agent

CID = "a" * 64
SANDBOX = "b" * 64
MOUNTINFO = ("2001 1990 0:77 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/containerd/snap/2/fs:"
             "/var/lib/containerd/snap/1/fs,upperdir=/var/lib/containerd/snap/9/fs,workdir=/var/lib/containerd/"
             "snap/9/work\n"
             "2002 2001 0:78 / /proc rw,nosuid - proc proc rw\n")


def _spec(kind: str = "container", **extra: Any) -> dict[str, Any]:
    return {
        "process": {"args": ["sleep", "300"], "capabilities": {"effective": ["CAP_CHOWN"]}},
        "mounts": [{"destination": "/data", "type": "bind", "source": "/var/lib/kubelet/pods/x/volumes/d",
                    "options": ["rbind", "rw"]},
                   {"destination": "/etc/hosts", "type": "bind", "source": "/var/lib/kubelet/pods/x/etc-hosts",
                    "options": ["rbind", "ro"]}],
        "annotations": {containerd.TYPE: kind, containerd.CONTAINER_NAME: "app", containerd.IMAGE_NAME:
                        "stowaway/base:abc", containerd.POD_NAME: "web-1", containerd.POD_NAMESPACE: "shop",
                        containerd.POD_UID: "uid-1"},
        **extra,
    }


def _node(tmp_path: Path, pid: int, spec: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """A node root with one container bundle and one sandbox, and a /proc holding the init's files."""
    root, proc = tmp_path / "node", tmp_path / "proc"
    for cid, body in ((CID, spec or _spec()), (SANDBOX, _spec("sandbox"))):
        bundle = root / containerd.TASK_ROOT.lstrip("/") / cid
        bundle.mkdir(parents=True)
        (bundle / "config.json").write_text(json.dumps(body))
        (bundle / "init.pid").write_text(str(pid))
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / "mountinfo").write_text(MOUNTINFO)
    (proc / str(pid) / "stat").write_text(f"{pid} (sleep) S " + " ".join(["0"] * 18) + " 500 0 0\n")
    (proc / "stat").write_text("cpu 1 2 3\nbtime 1000\n")
    return root, proc


def test_overlay_layers_reads_the_root_mount_and_unescapes() -> None:
    upper, lower = overlay_layers(MOUNTINFO.replace("snap/9/fs", "snap/9\\040x/fs"))
    assert upper == "/var/lib/containerd/snap/9 x/fs"
    assert lower == ("/var/lib/containerd/snap/2/fs", "/var/lib/containerd/snap/1/fs")
    assert overlay_layers("1 0 0:1 / / rw - ext4 /dev/sda1 rw\n") == ("", ())


def test_containerd_source_lists_containers_not_sandboxes(tmp_path: Path) -> None:
    root, proc = _node(tmp_path, 4242)
    source = ContainerdSource(proc=str(proc), node="worker-1", node_root=str(root))
    assert source.running_ids() == [CID]
    info = source.inspect(CID)
    assert info is not None
    assert (info.name, info.image, info.pid, info.command) == ("app", "stowaway/base:abc", 4242, ("sleep", "300"))
    # Node paths are read through the node's root, as the agent sees it.
    assert info.upper_dir == f"{root}/var/lib/containerd/snap/9/fs"
    assert info.lower_dirs[0] == f"{root}/var/lib/containerd/snap/2/fs"
    assert info.writable_mounts == ((f"{root}/var/lib/kubelet/pods/x/volumes/d", "/data"),)
    assert info.cgroup_root == f"{root}/sys/fs/cgroup"
    assert info.merged_dir == "/proc/4242/root"
    assert info.started_at == 1000 + 500 / os.sysconf("SC_CLK_TCK")
    assert not info.privileged
    fields = info.fields()
    assert fields["kubernetes.pod.name"] == "web-1" and fields["kubernetes.namespace"] == "shop"
    assert fields["kubernetes.pod.uid"] == "uid-1" and fields["orchestrator.node.name"] == "worker-1"
    assert fields["container.id"] == CID


def test_a_privileged_container_is_one_that_holds_every_root_capability(tmp_path: Path) -> None:
    spec = _spec()
    spec["process"]["capabilities"]["effective"] = sorted(containerd._PRIVILEGED_CAPS)
    root, proc = _node(tmp_path, 7, spec)
    info = ContainerdSource(proc=str(proc), node_root=str(root)).inspect(CID)
    assert info is not None and info.privileged
    spec["process"]["capabilities"]["effective"] = ["CAP_SYS_ADMIN"]
    assert not containerd.info_from_bundle(CID, spec, 7, "", "", 0.0).privileged


def test_a_gone_or_broken_bundle_is_no_container(tmp_path: Path) -> None:
    root, proc = _node(tmp_path, 7)
    bundle = root / containerd.TASK_ROOT.lstrip("/") / CID
    (bundle / "config.json").write_text("{not json")
    source = ContainerdSource(proc=str(proc), node_root=str(root))
    assert source.inspect(CID) is None and source.running_ids() == []
    assert ContainerdSource(proc=str(proc), node_root=str(tmp_path / "nothing")).running_ids() == []


def test_wire_round_trip_and_refusals() -> None:
    line = wire.decode(wire.encode("event", event={"event.id": "x-1", "tags": ("a", "b"), "raw": b"\xff"}))
    assert line is not None and line.kind == "event"
    assert line.body["event"]["tags"] == ["a", "b"]
    for text in ("", "not json", "[1]", '{"agent": 99, "type": "event", "event": {}}',
                 '{"agent": 1, "type": "event", "event": "x"}', '{"agent": 1, "type": "other"}'):
        assert wire.decode(text) is None, text


def test_the_agent_reports_a_pod_process_whose_executable_was_deleted(tmp_path: Path) -> None:
    """A real process runs a copy of sleep that is then deleted; the fake runtime says it is a pod's
    container, with a cgroup that holds it. The agent's procfs sensor must report it, with the pod."""
    binary = tmp_path / "agentd"
    shutil.copy("/bin/sleep", binary)
    process = subprocess.Popen([str(binary), "30"])
    try:
        root, proc_fake = _node(tmp_path, process.pid)
        cgroup = root / "sys/fs/cgroup"
        for controller in ("cpuacct", "memory"):
            directory = cgroup / controller / "docker" / CID
            directory.mkdir(parents=True)
            (directory / "cgroup.procs").write_text(f"{process.pid}\n")
        binary.unlink()

        class Source(ContainerdSource):
            def inspect(self, container_id: str) -> Any:
                info = super().inspect(container_id)
                # The process's real /proc (its pid is real), cgroups from the fake node.
                return info and type(info)(**{**{f: getattr(info, f) for f in info.__dataclass_fields__},
                                             "pid": 0, "cgroup_root": str(cgroup)})

        out = io.StringIO()
        agent = NodeAgent("worker-1", out=out, source=Source(proc=str(proc_fake), node="worker-1",
                                                              node_root=str(root)))
        agent.sensors[0].interval_s = 0.2
        agent.run(duration_s=1.5)
    finally:
        process.kill()
        process.wait()
    lines = [wire.decode(text) for text in out.getvalue().splitlines()]
    assert all(line is not None for line in lines)
    assert lines[0] is not None and lines[0].kind == "hello"
    assert {s["name"] for s in lines[0].body["sensors"]} == {"procfs", "cgroup-resources", "fim", "container-logs"}
    events = [line.body["event"] for line in lines if line is not None and line.kind == "event"]
    starts = [e for e in events if e["event.module"] == "containerd" and e["event.action"] == "start"]
    assert [e["container.id"] for e in starts] == [CID]
    deleted = [e for e in events if e["event.action"] == "executable_deleted"]
    assert len(deleted) == 1, events
    assert deleted[0]["process.pid"] == process.pid and deleted[0]["process.executable_deleted"]
    assert deleted[0]["kubernetes.pod.name"] == "web-1" and deleted[0]["observer.name"] == "procfs"
    assert deleted[0]["observer.hostname"] == "worker-1"


def test_the_reader_renames_events_counts_bad_lines_and_keeps_agent_health() -> None:
    stream = NodeAgentStream(["kubectl"], "ns", "app=x")
    got: list[dict[str, Any]] = []
    stream._emit = got.append
    stream._line(wire.encode("hello", node="w1", sensors=[{"name": "procfs", "state": "running"}]), "w1")
    stream._line(wire.encode("event", event={"event.id": "linux-3", "observer.name": "procfs"}), "w1")
    stream._line("kubelet says hi", "w1")
    assert stream.agents == {"w1": [{"name": "procfs", "state": "running"}]}
    assert [e["event.action"] for e in got[:1]] == ["started"]
    assert got[1:] == [{"event.id": "w1:linux-3", "observer.name": "node-agent/procfs", "observer.hostname": "w1"}]
    assert stream.stats["dropped"] == 1 and stream.stats["agents"] == 1


def test_stamps_order_despite_go_trimming_trailing_zeros() -> None:
    assert stamp_key("2026-11-30T10:00:00.5Z") > stamp_key("2026-11-30T10:00:00.123456789Z")
    assert stamp_key("2026-11-30T10:00:01Z") > stamp_key("2026-11-30T10:00:00.999Z")
    assert sorted(["2026-11-30T10:00:00.5Z", "2026-11-30T10:00:00.25Z"], key=stamp_key)[0].endswith(".25Z")


def test_the_agent_image_carries_our_packages_and_their_dependencies() -> None:
    recipe = node_agent.agent_recipe()
    names = {name for name, _ in recipe.files}
    assert "app/detectors/agent/__main__.py" in names and "app/lab/naming.py" in names
    assert "app/docker/__init__.py" in names and "app/requests/__init__.py" in names
    assert any(n.startswith("app/cryptography/") and n.endswith(".so") for n in names)
    assert not any("__pycache__" in n or "/../" in n for n in names)
    assert "python3\", \"-m\", \"detectors.agent" in recipe.dockerfile


def test_the_daemonset_runs_on_every_node_with_the_node_view_and_no_api_token() -> None:
    namespace, account, daemonset = node_agent.manifests("stowaway/node-agent:x")
    assert account["kind"] == "ServiceAccount" and account["automountServiceAccountToken"] is False
    assert namespace["metadata"]["name"] == node_agent.NAMESPACE
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["hostPID"] and pod["automountServiceAccountToken"] is False
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["containers"][0]["securityContext"] == {"privileged": True}
    assert "app.kubernetes.io/name" in daemonset["spec"]["template"]["metadata"]["labels"]


def test_requirements_skip_extras_and_windows() -> None:
    class Dist:
        requires = ["requests>=2.26.0", "pywin32>=304; sys_platform == \"win32\"", "paramiko>=2.4.3; extra == \"ssh\"",
                    "urllib3 (>=1.26.0)"]

    assert node_agent._requirements(Dist()) == ["requests", "urllib3"]  # type: ignore[arg-type]


def test_agent_runs_for_a_bounded_time(tmp_path: Path) -> None:
    out = io.StringIO()
    started = time.monotonic()
    NodeAgent("n", out=out, source=ContainerdSource(proc=str(tmp_path), node_root=str(tmp_path))).run(0.3)
    assert time.monotonic() - started < 10
    assert out.getvalue().splitlines()[0].startswith('{"agent":1,"type":"hello"')


def test_the_image_id_comes_from_the_nodes_own_cri_client(tmp_path: Path) -> None:
    """crictl is the node's (a script standing in for it); its inspect names the image's id."""
    root, proc = _node(tmp_path, 7)
    crictl = root / "usr/local/bin/crictl"
    crictl.parent.mkdir(parents=True)
    image = "sha256:" + "c" * 64
    answer = json.dumps({"status": {"imageRef": image}})
    crictl.write_text(f"#!/bin/sh\ncase \"$*\" in *'inspect -o json {CID}') echo '{answer}';;\n*) exit 1;; esac\n")
    crictl.chmod(0o755)
    source = ContainerdSource(proc=str(proc), node_root=str(root))
    info = source.inspect(CID)
    assert info is not None and info.image_id == image
    assert info.fields()["container.image.id"] == image
    crictl.write_text("#!/bin/sh\nexit 1\n")
    assert source.image_id(CID) == ""  # the runtime cannot say: no id is made up


def test_the_log_path_is_the_newest_attempt_in_the_pods_log_directory(tmp_path: Path) -> None:
    spec = _spec()
    spec["annotations"][containerd.SANDBOX_ID] = SANDBOX
    root, proc = _node(tmp_path, 7, spec)
    sandbox = root / containerd.TASK_ROOT.lstrip("/") / SANDBOX / "config.json"
    body = json.loads(sandbox.read_text())
    body["annotations"][containerd.LOG_DIRECTORY] = "/var/log/pods/shop_web-1_uid-1"
    sandbox.write_text(json.dumps(body))
    logs = root / "var/log/pods/shop_web-1_uid-1/app"
    logs.mkdir(parents=True)
    for name in ("0.log", "1.log", "0.log.20261130-101010", "notes"):
        (logs / name).write_text("x")
    info = ContainerdSource(proc=str(proc), node_root=str(root)).inspect(CID)
    assert info is not None and info.log_path == f"{logs}/1.log"


def test_a_pods_log_deleted_after_its_container_exited_is_not_an_alert() -> None:
    from detectors.analytics.container_logs import GRACE_S, ContainerLogDeleted
    from detectors.policies import load_policy
    from detectors.sensors.container_logs import log_event

    analytic = ContainerLogDeleted(load_policy())
    deleted = log_event("deleted", "/var/log/pods/x/app/0.log", CID, None, 100)
    deleted["event.created"] = 1000.0
    exited = {"event.module": "containerd", "event.dataset": "containerd.task", "event.action": "exit",
              "container.id": CID, "event.created": 1000.5}
    analytic.observe(deleted)
    analytic.observe(exited)
    assert analytic.tick(1000.0 + GRACE_S + 1) == []
    other = log_event("deleted", "/var/log/pods/y/app/0.log", SANDBOX, None, 100)
    other["event.created"] = 2000.0
    analytic.observe(other)
    assert [a.object for a in analytic.tick(2000.0 + GRACE_S + 1)] == [f"container:{SANDBOX}"]


def test_the_agent_reports_what_it_costs_and_the_reader_keeps_it(tmp_path: Path) -> None:
    out = io.StringIO()
    agent = NodeAgent("n", out=out, source=ContainerdSource(proc=str(tmp_path), node_root=str(tmp_path)),
                      health_interval_s=0.2)
    agent.run(0.9)
    lines = [wire.decode(text) for text in out.getvalue().splitlines()]
    health = [line for line in lines if line is not None and line.kind == "health"]
    assert health and health[-1].body["usage"]["cpu_s"] >= 0 and health[-1].body["usage"]["rss_bytes"] > 0
    stream = NodeAgentStream(["kubectl"], "ns", "app=x")
    for text in out.getvalue().splitlines():
        stream._line(text, "n")
    assert len(stream.usage["n"]) == len(health) + 1  # the hello's, then each health line's


def test_a_containers_files_are_watched_from_the_agents_start_event(tmp_path: Path) -> None:
    """The FIM sensor follows containerd's start events as it follows the engine's."""
    from detectors.sensors.container_fim import follow_container_files
    from detectors.sensors.containers import ContainerDirectory

    root, proc = _node(tmp_path, 7)
    merged = tmp_path / "merged"
    (merged / "etc/cron.d").mkdir(parents=True)

    class Source(ContainerdSource):
        def inspect(self, container_id: str) -> Any:
            info = super().inspect(container_id)
            return info and type(info)(**{**{f: getattr(info, f) for f in info.__dataclass_fields__},
                                         "merged_dir": str(merged)})

    directory = ContainerDirectory(Source(proc=str(proc), node_root=str(root)))
    follow = follow_container_files(directory)
    start = {"event.module": "containerd", "event.dataset": "containerd.task", "event.action": "start",
             "event.type": "start", "container.id": CID}
    watched = {w.path for w in follow(start)}
    assert f"{merged}/etc/cron.d" in watched and f"{merged}/etc/passwd" in watched
    assert follow({**start, "event.action": "exit"}) == []


def test_a_task_not_started_yet_is_asked_again_not_remembered_without_a_root(tmp_path: Path) -> None:
    """containerd writes the bundle before the task runs: no init pid (or no mount table yet) is no
    container yet, and the directory learns it on a later pass, with its root and layers."""
    from detectors.sensors.containers import ContainerDirectory

    root, proc = _node(tmp_path, 4242)
    pid_file = root / containerd.TASK_ROOT.lstrip("/") / CID / "init.pid"
    pid_file.unlink()
    directory = ContainerDirectory(ContainerdSource(proc=str(proc), node_root=str(root)))
    directory.sync()
    assert directory.running() == []
    pid_file.write_text("4242")
    directory.sync()
    [info] = directory.running()
    assert info.pid == 4242 and info.upper_dir.endswith("/snap/9/fs")


def test_an_agent_quiet_for_three_health_intervals_is_reported_silent_once_then_resumed() -> None:
    stream = NodeAgentStream(["kubectl"], "ns", "app=x")
    got: list[dict[str, Any]] = []
    stream._emit = got.append
    stream._line(wire.encode("hello", node="w1", sensors=[], health_interval_s=10), "w1")
    assert [e["event.action"] for e in got] == ["started"]
    heard = stream._heard["w1"]
    stream.check_silence(heard + 29)
    assert len(got) == 1  # under three intervals: a rollout's gap, not silence
    stream.check_silence(heard + 31)
    stream.check_silence(heard + 60)
    assert [(e["event.action"], e["host.id"], e.get("agent.quiet_s")) for e in got[1:]] == [("silent", "w1", 31.0)]
    stream._line(wire.encode("health", node="w1", sensors=[]), "w1")
    assert [e["event.action"] for e in got] == ["started", "silent", "resumed"]
    assert stream.stats["silences"] == 1
    from detectors.event import object_ref

    assert object_ref(got[1]) == "node:w1"


def test_an_agent_cannot_buy_itself_more_patience_than_the_cap() -> None:
    """The interval is the agent's own claim: a forged hello claiming an hour still goes silent after 90 s."""
    from detectors.sensors.node_agent import MAX_HEALTH_INTERVAL_S, SILENT_AFTER

    stream = NodeAgentStream(["kubectl"], "ns", "app=x")
    got: list[dict[str, Any]] = []
    stream._emit = got.append
    stream._line(wire.encode("hello", node="w1", sensors=[], health_interval_s=3600), "w1")
    stream.check_silence(stream._heard["w1"] + SILENT_AFTER * MAX_HEALTH_INTERVAL_S + 1)
    assert [e["event.action"] for e in got] == ["started", "silent"]
