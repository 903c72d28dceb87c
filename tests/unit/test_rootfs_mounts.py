"""A root filesystem debootstrap left mounted is detached before it is deleted, never deleted through."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import images, mounts
from lab.errors import LabError

MOUNTINFO = """\
22 1 0:21 / / rw - overlay overlay rw
38 22 0:5 / /proc rw - proc proc rw
91 22 0:44 / {tmp}/stowaway-rootfs-ab-x/root/proc rw - proc proc rw
92 91 0:45 / {tmp}/stowaway-rootfs-ab-x/root/proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt rw
93 22 0:46 / {tmp}/stowaway-rootfs-ab-x/root/my\\040dir rw - tmpfs tmpfs rw
94 22 0:47 / {tmp}/stowaway-rootfs-ab-xy/root/proc rw - proc proc rw
"""


def test_mounts_under_a_rootfs_deepest_first(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO.format(tmp=tmp_path.resolve()))
    found = mounts.mounts_under(tmp_path / "stowaway-rootfs-ab-x", mountinfo=str(info))
    root = f"{tmp_path.resolve()}/stowaway-rootfs-ab-x/root"
    assert found[0] == f"{root}/proc/sys/fs/binfmt_misc"
    assert set(found) == {f"{root}/proc/sys/fs/binfmt_misc", f"{root}/proc", f"{root}/my dir"}  # not -xy


def test_a_rootfs_that_stays_mounted_is_not_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rootfs = tmp_path / "stowaway-rootfs-ab-x"
    (rootfs / "root" / "proc").mkdir(parents=True)
    monkeypatch.setattr(images, "detach_under", lambda path: [str(rootfs / "root" / "proc")])  # umount refused
    with pytest.raises(LabError, match="still mounted"):
        images._remove_rootfs(rootfs)
    assert (rootfs / "root" / "proc").is_dir()


def test_an_unmounted_rootfs_is_deleted(tmp_path: Path) -> None:
    rootfs = tmp_path / "stowaway-rootfs-ab-x"
    (rootfs / "root" / "etc").mkdir(parents=True)
    images._remove_rootfs(rootfs)
    assert not rootfs.exists()
