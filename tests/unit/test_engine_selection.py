"""Which engine the lab uses, and the error when none can be had."""

from __future__ import annotations

import pytest

from lab import engine as engine_mod
from lab.errors import EngineUnavailable
from lab.paths import LabPaths


def paths(tmp_path):
    return LabPaths(state=tmp_path / "state", runtime=tmp_path / "run")


def test_unreachable_docker_host_says_what_to_do(tmp_path):
    with pytest.raises(EngineUnavailable, match="does not answer"):
        engine_mod.acquire("t", docker_host=f"unix://{tmp_path}/none.sock", paths=paths(tmp_path))


def test_docker_host_env_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/env.sock")
    with pytest.raises(EngineUnavailable, match=r"env\.sock"):
        engine_mod.acquire("t", paths=paths(tmp_path))


def test_no_dockerd_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(engine_mod.shutil, "which", lambda name: None)
    with pytest.raises(EngineUnavailable, match=r"apt-get install -y docker\.io"):
        engine_mod.acquire("t", paths=paths(tmp_path))


def test_canonical_config_keeps_everything_in_lab_paths(tmp_path):
    p = paths(tmp_path)
    config = engine_mod.daemon_config(p)
    assert config["bridge"] == "none"
    assert config["ip-masq"] is False
    assert config["hosts"] == [f"unix://{p.engine_socket}"]
    for key in ("data-root", "exec-root", "pidfile"):
        assert str(config[key]).startswith(str(tmp_path))
    pool = config["default-address-pools"][0]["base"]
    assert pool.startswith("198.19.")


def test_dead_leases_do_not_count(tmp_path):
    p = paths(tmp_path)
    p.ensure()
    (p.leases / "dead").write_text("999999999")
    (p.leases / "mine").write_text(str(__import__("os").getpid()))
    assert [lease.name for lease in engine_mod.live_leases(p)] == ["mine"]
    assert not (p.leases / "dead").exists()
