"""lab/system.py: which packages are missing, and what to do about it, without touching the host."""

from __future__ import annotations

import subprocess

from lab import system

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n'
MINT = 'ID=linuxmint\nID_LIKE="ubuntu debian"\n'
FEDORA = 'ID=fedora\nID_LIKE=""\n'


def test_debian_family_is_recognised():
    assert system.is_debian_like(DEBIAN) and system.is_debian_like(UBUNTU) and system.is_debian_like(MINT)
    assert not system.is_debian_like(FEDORA) and not system.is_debian_like("")


def test_plan_lists_only_missing_packages():
    plan = system.plan(DEBIAN, installed=lambda p: p in ("docker.io", "iptables"), uid=0)
    assert plan.missing == ("libpcap0.8", "debootstrap")
    assert plan.can_apply
    assert plan.install_command[-2:] == ["libpcap0.8", "debootstrap"]


def test_not_root_on_debian_prints_sudo_command():
    plan = system.plan(UBUNTU, installed=lambda p: p != "debootstrap", uid=1000)
    assert not plan.can_apply
    assert plan.instructions() == ("run: sudo apt-get update && "
                                   "sudo apt-get install -y --no-install-recommends debootstrap")
    assert any("root" in note for note in plan.notes)


def test_nothing_missing_means_nothing_to_do():
    plan = system.plan(DEBIAN, installed=lambda p: True, uid=0)
    assert not plan.missing and not plan.can_apply
    calls = []
    assert system.apply(plan, run=lambda *a, **k: calls.append(a)) == 0
    assert calls == []


def test_non_debian_names_the_equivalents(monkeypatch):
    monkeypatch.setattr(system.shutil, "which", lambda name: None)
    plan = system.plan(FEDORA, uid=0)
    assert not plan.debian_like and not plan.can_apply
    assert "not Debian/Ubuntu" in plan.instructions() and "dockerd" in plan.instructions()


def test_apply_updates_then_installs_noninteractively():
    calls = []

    def fake(cmd, env, check):
        calls.append((cmd, env.get("DEBIAN_FRONTEND")))
        return subprocess.CompletedProcess(cmd, 0)

    plan = system.SetupPlan(debian_like=True, root=True, missing=("iptables",))
    assert system.apply(plan, run=fake) == 0
    assert calls == [(["apt-get", "update"], "noninteractive"),
                     (["apt-get", "install", "-y", "--no-install-recommends", "iptables"], "noninteractive")]


def test_apply_stops_when_update_fails():
    calls = []

    def fake(cmd, env, check):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 100)

    assert system.apply(system.SetupPlan(debian_like=True, root=True, missing=("iptables",)), run=fake) == 100
    assert len(calls) == 1
