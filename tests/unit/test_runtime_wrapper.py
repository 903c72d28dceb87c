"""The OCI runtime wrapper drops capabilities the host cannot grant, then runs the real runc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WRAPPER = Path(__file__).parents[2] / "lab" / "assets" / "runtime_wrapper.py"


def _bounding() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    raise AssertionError("no CapBnd")


def _install(tmp_path: Path) -> tuple[Path, Path]:
    fake_runc = tmp_path / "runc"
    log = tmp_path / "argv.json"
    fake_runc.write_text(f"#!{sys.executable}\nimport json,sys\njson.dump(sys.argv[1:], open({str(log)!r}, 'w'))\n")
    fake_runc.chmod(0o755)
    wrapper = tmp_path / "wrapper"
    wrapper.write_text(f"#!{sys.executable}\n" + WRAPPER.read_text().replace("@RUNC@", str(fake_runc)))
    wrapper.chmod(0o755)
    return wrapper, log


def test_create_filters_caps_and_passes_argv_through(tmp_path):
    wrapper, log = _install(tmp_path)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    caps = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"]
    spec = {"process": {"capabilities": {"bounding": caps, "effective": caps}}}
    (bundle / "config.json").write_text(json.dumps(spec))
    args = ["--root", "/x", "--log", "/y", "create", "--bundle", str(bundle), "cid"]
    subprocess.run([str(wrapper), *args], check=True)
    assert json.loads(log.read_text()) == args
    kept = json.loads((bundle / "config.json").read_text())["process"]["capabilities"]["bounding"]
    can_grant_sys_resource = bool(_bounding() >> 24 & 1)
    assert ("CAP_SYS_RESOURCE" in kept) == can_grant_sys_resource
    assert "CAP_CHOWN" in kept and "CAP_SYS_ADMIN" in kept


def test_exec_process_file_is_filtered(tmp_path):
    wrapper, _log = _install(tmp_path)
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"capabilities": {"permitted": ["CAP_KILL", "CAP_NOT_REAL"]}}))
    subprocess.run([str(wrapper), "exec", "--process", str(process), "cid"], check=True)
    assert json.loads(process.read_text())["capabilities"]["permitted"] == ["CAP_KILL"]


def test_other_commands_leave_files_alone(tmp_path):
    wrapper, log = _install(tmp_path)
    subprocess.run([str(wrapper), "state", "cid"], check=True, env={**os.environ})
    assert json.loads(log.read_text()) == ["state", "cid"]
