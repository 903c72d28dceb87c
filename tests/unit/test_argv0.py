"""argv[0] judgement (detectors/sensors/argv0.py) on exec events recorded from the real engine.

tests/fixtures/host/entrypoint-script.json was recorded live (tracefs-exec sensor, private engine)
from a container of an image built FROM the lab base image with the pattern of most official
images: ENTRYPOINT a `#!/bin/sh` docker-entrypoint.sh ending in `exec "$@"`, CMD
`sh -c "healthd && exec webd"`, where healthd is a `#!/usr/bin/env python3` script and webd a
`#!/usr/local/bin/python` script, /usr/local/bin/python being an absolute symlink to
/usr/bin/python3. Before the fix the sensor judged the entrypoint's exec (argv[0] /bin/sh, exec'd
path the script, executable /usr/bin/dash) a mismatch and stowaway.host.argv0-mismatch fired on it.

The tests rebuild that image's file layout (as `ls -l` showed it in the container) in a temporary
root and judge every recorded exec against it, the way the sensor judges against /proc/<pid>/root.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from detectors.sensors.argv0 import judge_argv0, names_match, resolve_in_root
from detectors.sensors.procfs import process_fields

FIXTURES = Path(__file__).parents[1] / "fixtures" / "host"

# The image's layout: merged /usr (bin -> usr/bin), sh -> dash, python3 -> python3.11, and the
# image's own absolute symlink /usr/local/bin/python -> /usr/bin/python3.
LINKS = {
    "bin": "usr/bin",
    "sbin": "usr/sbin",
    "usr/bin/sh": "dash",
    "usr/bin/python3": "python3.11",
    "usr/local/bin/python": "/usr/bin/python3",
}
FILES = ("usr/bin/dash", "usr/bin/python3.11", "usr/bin/env", "usr/bin/id", "usr/bin/find", "usr/bin/chown",
         "usr/bin/sleep", "usr/sbin/nginx", "usr/sbin/docker-init", "usr/local/bin/docker-entrypoint.sh",
         "usr/local/bin/healthd", "usr/local/bin/webd")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "root"
    for relative in FILES:
        (base / relative).parent.mkdir(parents=True, exist_ok=True)
        (base / relative).write_text(relative)  # distinct content: distinct inodes
    for relative, target in LINKS.items():
        (base / relative).parent.mkdir(parents=True, exist_ok=True)
        (base / relative).symlink_to(target)
    (base / "srv").mkdir()
    return base


def recorded(name: str) -> list[dict]:
    return [e for e in json.loads((FIXTURES / name).read_text()) if "process.argv0" in e]


def judge(root: Path, event: dict):
    return judge_argv0(event["process.argv0"], event.get("process.exec_path", ""), root=str(root),
                       exe=str(root) + event["process.executable"], executable=event["process.executable"])


def test_the_recording_holds_the_interpreter_script_execs():
    by_path = {e["process.exec_path"]: e for e in recorded("entrypoint-script.json")}
    entry = by_path["/usr/local/bin/docker-entrypoint.sh"]
    assert entry["process.argv0"] == "/bin/sh" and entry["process.executable"] == "/usr/bin/dash"
    webd = by_path["/usr/local/bin/webd"]
    assert webd["process.argv0"] == "/usr/local/bin/python" and webd["process.executable"] == "/usr/bin/python3.11"


@pytest.mark.parametrize("event", recorded("entrypoint-script.json"),
                         ids=lambda e: f"{e['process.argv0']}->{e['process.exec_path']}")
def test_every_recorded_exec_names_its_program(root: Path, event: dict):
    verdict = judge(root, event)
    assert verdict.matches, verdict
    assert event["process.argv0_matches_executable"] is True  # what the sensor said live, after the fix


@pytest.mark.parametrize("exec_path", ["/usr/local/bin/docker-entrypoint.sh", "/usr/local/bin/webd"])
def test_name_comparison_alone_misfires_on_interpreter_scripts(root: Path, exec_path: str):
    # The misfire, reproduced: by names alone, "sh" is neither "docker-entrypoint.sh" nor "dash",
    # "python" neither "webd" nor "python3.11". Resolution in the container's root answers it.
    event = next(e for e in recorded("entrypoint-script.json") if e["process.exec_path"] == exec_path)
    assert not names_match(event["process.argv0"], exec_path, event["process.executable"])
    assert judge(root, event).how == "resolved"


def test_absolute_symlinks_resolve_inside_the_container_root(root: Path):
    # /usr/local/bin/python -> /usr/bin/python3 means the container's python3, never the host's.
    assert resolve_in_root(str(root), "/usr/local/bin/python") == "/usr/bin/python3.11"
    assert resolve_in_root(str(root), "/bin/sh") == "/usr/bin/dash"
    assert resolve_in_root(str(root), "../../bin/./sh", cwd="/usr/local") == "/usr/bin/dash"
    assert resolve_in_root(str(root), "/usr/bin/perl") is None


def test_symlink_loops_lead_nowhere(root: Path):
    (root / "usr/bin/a").symlink_to("b")
    (root / "usr/bin/b").symlink_to("a")
    assert resolve_in_root(str(root), "/usr/bin/a") is None


@pytest.mark.parametrize("event", recorded("argv0-spoof.json"), ids=lambda e: e["process.argv0"])
def test_the_forged_kworker_name_still_mismatches(root: Path, event: dict):
    verdict = judge(root, event)
    assert verdict.matches is event["process.argv0_matches_executable"]
    if event["process.argv0"].startswith("["):
        assert not verdict.matches and verdict.how == "kernel-thread-name"


@pytest.mark.parametrize(("argv0", "resolved"), [
    ("nginx", "/usr/sbin/nginx"),  # a real program's name, on another file
    ("/usr/sbin/nginx", "/usr/sbin/nginx"),  # a forged full path
    ("nginx: master process /usr/sbin/nginx -g daemon off;", "/usr/sbin/nginx"),  # a forged title
    ("sshd", ""),  # a name that leads nowhere
    ("/bin/sh", "/usr/bin/dash"),  # the interpreter's name without being the interpreter
])
def test_names_of_other_programs_mismatch(root: Path, argv0: str, resolved: str):
    verdict = judge_argv0(argv0, "/usr/bin/sleep", root=str(root), exe=str(root / "usr/bin/sleep"))
    assert not verdict.matches and verdict.resolved == resolved


@pytest.mark.parametrize("argv0", ["sleep", "/usr/bin/sleep", "-sleep", "sleep: worker 1"])
def test_the_programs_own_names_match(root: Path, argv0: str):
    assert judge_argv0(argv0, "/usr/bin/sleep", root=str(root), exe=str(root / "usr/bin/sleep")).matches


def test_a_symlinked_name_matches_without_the_exec_path(root: Path):
    # The procfs scan judges without the exec'd path: "sh" still leads to dash.
    assert judge_argv0("sh", "", root=str(root), exe=str(root / "usr/bin/dash")).matches


def test_without_a_readable_root_the_name_comparison_decides(tmp_path: Path):
    verdict = judge_argv0("/bin/sh", "/x/docker-entrypoint.sh", root=str(tmp_path / "gone"),
                          exe=str(tmp_path / "gone-exe"), executable="/usr/bin/dash")
    assert verdict.how == "name-only" and not verdict.matches


@pytest.mark.parametrize(("argv0", "paths", "matches"), [
    ("sleep", ("/usr/bin/sleep",), True),
    ("sh", ("/bin/sh", "/usr/bin/dash"), True),
    ("python3", ("/usr/bin/python3", "/usr/bin/python3.11"), True),
    ("-bash", ("/bin/bash",), True),  # login shell
    ("nginx: master process /usr/sbin/nginx -g daemon off;", ("/usr/sbin/nginx",), True),
    ("[kworker/0:1]", ("/usr/bin/sleep",), False),
    ("nginx", ("/usr/bin/sleep",), False),
])
def test_name_comparison_fallback(argv0: str, paths: tuple[str, ...], matches: bool):
    assert names_match(argv0, *paths) is matches


def fake_proc(tmp_path: Path, pid: int, root: Path, argv: bytes, comm: bytes, exe: str) -> Path:
    """A fake /proc/<pid> whose root is the image above: what the sensor reads for one exec."""
    path = tmp_path / "proc" / str(pid)
    path.mkdir(parents=True)
    (path / "cmdline").write_bytes(argv)
    (path / "comm").write_bytes(comm)
    os.symlink(root, path / "root")
    os.symlink(root / exe, path / "exe")
    os.symlink("/", path / "cwd")
    return path


def test_process_fields_judge_in_the_process_root(root: Path, tmp_path: Path):
    # The entrypoint's exec: its exe is the image's dash.
    fake_proc(tmp_path, 4242, root, b"/bin/sh\0/usr/local/bin/docker-entrypoint.sh\0webd\0", b"docker-entrypoi\n",
              "usr/bin/dash")
    fields = process_fields(4242, None, "/usr/local/bin/docker-entrypoint.sh", str(tmp_path / "proc"))
    assert fields["process.argv0"] == "/bin/sh"
    assert fields["process.argv0_matches_executable"] is True
    assert fields["process.argv0_resolved"] == "/usr/bin/dash"


def test_a_replaced_process_lends_no_argv(root: Path, tmp_path: Path):
    # The stream showed the process exec again: /proc describes the next program, so nothing of it
    # is read for this exec.
    pid = tmp_path / "proc" / "4243"
    pid.mkdir(parents=True)
    (pid / "cmdline").write_bytes(b"python3\0/usr/local/bin/healthd\0")
    os.symlink(root / "usr/bin/python3.11", pid / "exe")
    fields = process_fields(4243, None, "/usr/local/bin/healthd", str(tmp_path / "proc"), replaced=True)
    assert "process.argv0" not in fields and "process.command_line" not in fields
    assert fields["process.executable"] == "/usr/local/bin/healthd"
    assert fields["process.replaced_before_inspection"] is True
    assert fields["process.exited_before_inspection"] is False


def test_a_process_that_execs_while_it_is_read_is_not_judged(root: Path, tmp_path: Path, monkeypatch):
    # `#!/usr/bin/env python3`: the sensor reads env's exe, then env execs python3 before the argv
    # is judged. Judging env's argv against python3's file would call an honest script a masquerade.
    from detectors.sensors import procfs

    pid = fake_proc(tmp_path, 4244, root, b"/usr/bin/env\0python3\0/usr/local/bin/healthd\0", b"env\n", "usr/bin/env")
    real_read = procfs._read

    def read_then_exec(path: str, limit: int = 4096) -> bytes | None:
        data = real_read(path, limit)
        if path.endswith("/cmdline"):  # env hands over to python3 right after its argv was read
            os.unlink(pid / "exe")
            os.symlink(root / "usr/bin/python3.11", pid / "exe")
        return data

    monkeypatch.setattr(procfs, "_read", read_then_exec)
    fields = process_fields(4244, None, "/usr/local/bin/healthd", str(tmp_path / "proc"))
    assert "process.argv0_matches_executable" not in fields
    assert fields["process.replaced_before_inspection"] is True


def test_a_runtime_re_executing_a_sealed_copy_of_itself_names_its_own_file(root: Path, tmp_path: Path):
    """runc init: exec'd through /proc/self/exe from a copy on a mount only runc sees (executable
    /runc); its name is that file's own, though the search path in the root leads elsewhere."""
    sealed = tmp_path / "private" / "runc"
    sealed.parent.mkdir()
    sealed.write_bytes(b"\x7fELF")
    verdict = judge_argv0("runc init", "/proc/self/exe", root=str(root), exe=str(sealed), executable="/runc")
    assert verdict.matches and verdict.how == "exe-name"
    # The name of another file is still a mismatch: /usr/bin/sleep started as "runc" names nothing it is.
    assert not judge_argv0("runc init", "/usr/bin/sleep", root=str(root), exe=str(root / "usr/bin/sleep"),
                           executable="/usr/bin/sleep").matches
