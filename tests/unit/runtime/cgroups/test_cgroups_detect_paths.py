from __future__ import annotations

from pathlib import Path

import pytest

from ketch.runtime.cgroups import CgroupConfigError, CgroupDriverError, new_manager, new_manager_from_state
from ketch.runtime.cgroups.detect import (
    Mount,
    detect_mode,
    mount_of,
    own_cgroups,
    parse_mountinfo,
    unified_mount,
    v1_hierarchies,
)
from ketch.runtime.cgroups.errors import CgroupError
from ketch.runtime.cgroups.paths import check_systemd, clean_inner, place

HYBRID = """\
23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
"""
V2 = """\
23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""
V1 = HYBRID.replace("41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n", "")


def test_modes_are_decided_as_runc_does() -> None:
    assert detect_mode("/sys/fs/cgroup", HYBRID) == "hybrid"
    assert detect_mode("/sys/fs/cgroup", V2) == "v2"
    assert detect_mode("/sys/fs/cgroup", V1) == "v1"
    # a directory inside a cgroup2 mount is v2 too (what statfs would say)
    assert detect_mode("/sys/fs/cgroup/unified", HYBRID) == "v2"
    with pytest.raises(CgroupError, match="no cgroup hierarchy is mounted at /nowhere"):
        detect_mode("/nowhere", HYBRID)


def test_comounted_controllers_share_one_mount() -> None:
    h = v1_hierarchies("/sys/fs/cgroup", HYBRID)
    assert h["cpu"] is h["cpuacct"]
    assert h["cpu"].mountpoint == "/sys/fs/cgroup/cpu,cpuacct"
    assert h["name=systemd"].mountpoint == "/sys/fs/cgroup/systemd"
    assert "xattr" not in h and "memory" in h and "pids" not in h
    assert v1_hierarchies("/sys/fs/cgroup", V2) == {}


def test_unified_mount_and_mount_lookup() -> None:
    assert unified_mount("/sys/fs/cgroup", HYBRID).mountpoint == "/sys/fs/cgroup/unified"  # type: ignore[union-attr]
    assert unified_mount("/sys/fs/cgroup", V2).mountpoint == "/sys/fs/cgroup"  # type: ignore[union-attr]
    assert unified_mount("/sys/fs/cgroup", V1) is None
    mounts = parse_mountinfo(HYBRID)
    assert mount_of("/sys/fs/cgroup/memory/a/b", mounts).fstype == "cgroup"  # type: ignore[union-attr]
    assert mount_of("/sys/fs/cgroup/memoryx", mounts).fstype == "tmpfs"  # type: ignore[union-attr]


def test_mountinfo_octal_escapes_are_decoded() -> None:
    (m,) = parse_mountinfo("50 31 0:40 /a\\040b /mnt/with\\040space rw - cgroup cgroup rw,pids\n")
    assert m.root == "/a b" and m.mountpoint == "/mnt/with space" and m.superopts == "rw,pids"


def test_own_cgroups_split_comounts_and_keep_v2() -> None:
    own = own_cgroups("12:cpu,cpuacct:/user.slice\n4:memory:/a/b\n1:name=systemd:/init.scope\n0::/x\n")
    assert own == {"cpu": "/user.slice", "cpuacct": "/user.slice", "memory": "/a/b", "name=systemd": "/init.scope", "": "/x"}


SELF = "4:memory:/sandbox/me\n2:cpu,cpuacct:/\n1:name=systemd:/\n0::/user.slice/me\n"


def test_clean_inner() -> None:
    assert clean_inner(None, "abc") == "abc"
    assert clean_inner("", "abc") == "abc"
    assert clean_inner("/a//b/./c/", "x") == "/a/b/c"
    assert clean_inner("a/b", "x") == "a/b"
    for bad in ("/a/../../etc", "..", "a/.."):
        with pytest.raises(CgroupConfigError, match=r"linux\.cgroupsPath: .* must not contain '\.\.'"):
            clean_inner(bad, "x")
    with pytest.raises(CgroupConfigError, match="names the root cgroup"):
        clean_inner("/", "x")
    with pytest.raises(CgroupConfigError, match="cannot name a cgroup"):
        clean_inner(None, "a/b")


def test_place_absolute_and_relative() -> None:
    m = Mount("/", "/sys/fs/cgroup/memory", "cgroup", "rw,memory")
    assert place("/k/c1", m, "/sandbox/me") == "/sys/fs/cgroup/memory/k/c1"
    assert place("c1", m, "/sandbox/me") == "/sys/fs/cgroup/memory/sandbox/me/c1"
    # a mount of a sub-tree (cgroup namespace, bind mount): the own path is taken relative to its root
    sub = Mount("/sandbox", "/sys/fs/cgroup/memory", "cgroup", "rw,memory")
    assert place("c1", sub, "/sandbox/me") == "/sys/fs/cgroup/memory/me/c1"
    assert place("c1", sub, "/elsewhere") == "/sys/fs/cgroup/memory/c1"


def test_new_manager_places_every_hierarchy() -> None:
    mgr = new_manager("k/c1", "c1", mountinfo=HYBRID, self_cgroup=SELF)
    assert mgr.mode == "hybrid"
    assert mgr.paths == {
        "cpu": "/sys/fs/cgroup/cpu,cpuacct/k/c1",
        "cpuacct": "/sys/fs/cgroup/cpu,cpuacct/k/c1",
        "cpuset": "/sys/fs/cgroup/cpuset/k/c1",
        "memory": "/sys/fs/cgroup/memory/sandbox/me/k/c1",
        "name=systemd": "/sys/fs/cgroup/systemd/k/c1",
        "": "/sys/fs/cgroup/unified/user.slice/me/k/c1",
    }
    default = new_manager(None, "c2", mountinfo=HYBRID, self_cgroup=SELF)
    assert default.paths["memory"] == "/sys/fs/cgroup/memory/sandbox/me/c2"
    v2 = new_manager("/k/c3", "c3", mountinfo=V2, self_cgroup=SELF)
    assert v2.mode == "v2" and v2.paths == {"": "/sys/fs/cgroup/k/c3"}
    assert new_manager(None, "c4", mountinfo=V2, self_cgroup=SELF).paths == {"": "/sys/fs/cgroup/user.slice/me/c4"}


def test_state_round_trip() -> None:
    mgr = new_manager("/k/c1", "c1", mountinfo=HYBRID, self_cgroup=SELF)
    again = new_manager_from_state(mgr.to_state())
    assert type(again) is type(mgr) and again.paths == mgr.paths and again.mode == "hybrid"
    assert again.cgroup_mounts() == mgr.cgroup_mounts() == [
        ("cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/k/c1"),
        ("cpuset", "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/cpuset/k/c1"),
        ("memory", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/k/c1"),
        ("systemd", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/systemd/k/c1"),
        ("unified", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/unified/k/c1"),
    ]
    v2 = new_manager("/k/c1", "c1", mountinfo=V2, self_cgroup=SELF)
    assert new_manager_from_state(v2.to_state()).cgroup_mounts() == [("", "/sys/fs/cgroup", "/sys/fs/cgroup/k/c1")]
    with pytest.raises(Exception, match="unknown mode"):
        new_manager_from_state({"mode": "v3", "paths": {}})


def test_systemd_driver_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(CgroupConfigError, match="not of the systemd form"):
        check_systemd("/a/b", str(tmp_path))
    with pytest.raises(CgroupDriverError, match="needs a running systemd and this host has none"):
        check_systemd("system.slice:ketch:c1", str(tmp_path / "missing"))
    with pytest.raises(CgroupDriverError, match="not supported by ketch-runtime"):
        check_systemd("system.slice:ketch:c1", str(tmp_path))
    with pytest.raises(CgroupDriverError):
        new_manager("system.slice:ketch:c1", "c1", systemd=True, mountinfo=HYBRID, self_cgroup=SELF)
