"""The v1 manager on this host's real cgroup v1 hierarchies (hybrid or legacy): limits, membership, freezer,
stats, OOM kills, kill_all, devices, and that destroy and a failed create leave no directory behind."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.runtime.cgroups import (
    CgroupConfigError,
    CgroupError,
    detect_mode,
    new_manager,
    new_manager_from_state,
)
from ketch.runtime.cgroups.base import Manager

pytestmark = pytest.mark.root


def _v1_host() -> bool:
    try:
        return os.geteuid() == 0 and detect_mode() in ("v1", "hybrid")
    except CgroupError:
        return False


if not _v1_host():
    pytest.skip("needs root and cgroup v1 controllers", allow_module_level=True)


@pytest.fixture
def mgr() -> Iterator[Manager]:
    name = f"ketch-test-{secrets.token_hex(4)}"
    m = new_manager(name, name)  # relative: under this process's own cgroups
    m.create()
    yield m
    for pid in m.pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if m.exists():
        m.destroy()
    assert not any(os.path.exists(d) for d in m.paths.values())


def _waiting_child(script: str) -> subprocess.Popen[bytes]:
    """A shell that waits for a line on stdin (time to be moved into the cgroup), then runs ``script``."""
    return subprocess.Popen(
        ["sh", "-c", f"read go; {script}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _read(mgr: Manager, controller: str, name: str) -> str:
    return Path(mgr.paths[controller], name).read_text().strip()


def _state(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    raise AssertionError("no State line")


def test_limits_membership_freezer_stats_and_kill(mgr: Manager) -> None:
    mem: dict[str, int] = {"limit": 64 << 20}
    if os.path.exists(os.path.join(mgr.paths["memory"], "memory.memsw.limit_in_bytes")):
        mem["swap"] = 128 << 20
    mgr.apply({"memory": mem, "pids": {"limit": 32}, "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"}})
    assert _read(mgr, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert _read(mgr, "pids", "pids.max") == "32"
    assert _read(mgr, "cpu", "cpu.shares") == "512"
    assert _read(mgr, "cpu", "cpu.cfs_quota_us") == "50000"
    assert _read(mgr, "cpuset", "cpuset.cpus") == "0"

    child = subprocess.Popen(["sleep", "300"])
    try:
        mgr.add_pid(child.pid)
        assert mgr.pids() == [child.pid]
        cgroups = Path(f"/proc/{child.pid}/cgroup").read_text()
        assert f"pids:{mgr.paths['pids'].removeprefix('/sys/fs/cgroup/pids')}\n" in cgroups
        if "" in mgr.paths:  # hybrid: joined to the unified tree too, as runc does
            assert f"0::{mgr.paths[''].removeprefix('/sys/fs/cgroup/unified')}\n" in cgroups

        mgr.freeze()
        assert mgr.freezer_state() == "frozen"
        assert _state(child.pid) == "D"  # v1 frozen tasks sit in the refrigerator, uninterruptible
        mgr.thaw()
        assert mgr.freezer_state() == "thawed"
        assert _state(child.pid) == "S"

        stats = mgr.stats()
        assert stats["memory"]["usage"]["limit"] == 64 << 20
        assert stats["pids"] == {"current": 1, "limit": 32}
        assert stats["cpuset"]["cpus"] == [0]
        assert set(stats) == {"cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"}

        # a later invocation rebuilds the manager from its state and sees the same cgroup
        again = new_manager_from_state(mgr.to_state())
        again.kill_all(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        assert again.freezer_state() == "thawed"
    finally:
        child.kill()
        child.wait()


def test_update_changes_a_running_container(mgr: Manager) -> None:
    mgr.apply({"memory": {"limit": 64 << 20}, "pids": {"limit": 10}})
    mgr.update({"pids": {"limit": 20}, "cpu": {"shares": 256}})
    assert _read(mgr, "pids", "pids.max") == "20"
    assert _read(mgr, "cpu", "cpu.shares") == "256"
    assert _read(mgr, "memory", "memory.limit_in_bytes") == str(64 << 20)


def test_kernel_refusals_name_the_field(mgr: Manager) -> None:
    with pytest.raises(CgroupConfigError, match=r"^linux\.resources\.cpu\.shares: 1000000 is out of range, the maximum is 262144"):
        mgr.apply({"cpu": {"shares": 1_000_000}}, default_devices=False)
    with pytest.raises(CgroupConfigError, match=r"^linux\.resources\.cpu\.cpus: writing 4096 to .*cpuset\.cpus"):
        mgr.apply({"cpu": {"cpus": "4096"}}, default_devices=False)


def test_oom_kill_is_counted(mgr: Manager) -> None:
    mem = {"limit": 32 << 20}
    if os.path.exists(os.path.join(mgr.paths["memory"], "memory.memsw.limit_in_bytes")):
        mem["swap"] = 32 << 20
    mgr.apply({"memory": mem})
    watch = mgr.oom_watch()
    assert not watch.wait(timeout=0.01)
    child = _waiting_child(f"exec {sys.executable} -S -c 'b = bytearray(256 << 20); b[::4096] = bytes(len(b[::4096]))'")
    try:
        mgr.add_pid(child.pid)
        child.communicate(b"go\n", timeout=60)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert mgr.oom_kill_count() == 1
    assert watch.wait(timeout=30)  # the eventfd registered on memory.oom_control fired
    watch.close()


def test_device_rules_are_enforced(mgr: Manager, tmp_path: Path) -> None:
    os.mknod(tmp_path / "null", 0o666 | 0o020000, os.makedev(1, 3))
    os.mknod(tmp_path / "zero", 0o666 | 0o020000, os.makedev(1, 5))
    mgr.apply({"devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}]},
              default_devices=False)
    assert _read(mgr, "devices", "devices.list") == "c 1:3 rw"
    script = f"head -c1 {tmp_path}/null && echo null-ok; head -c1 {tmp_path}/zero >/dev/null 2>&1 || echo zero-denied"
    child = _waiting_child(script)
    mgr.add_pid(child.pid)
    out = child.communicate(b"go\n", timeout=30)[0].decode()
    assert "null-ok" in out and "zero-denied" in out, out
    # an update adds /dev/zero (r only) without taking /dev/null away; the process sees it at once
    child = _waiting_child(f"read again; {script}")
    mgr.add_pid(child.pid)
    child.stdin.write(b"go\n")  # type: ignore[union-attr]
    child.stdin.flush()  # type: ignore[union-attr]
    mgr.update({"devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                            {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"}]}, default_devices=False)
    assert sorted(_read(mgr, "devices", "devices.list").splitlines()) == ["c 1:3 rw", "c 1:5 r"]
    out = child.communicate(b"go\n", timeout=30)[0].decode()
    assert "null-ok" in out and "zero-denied" not in out, out
    # with the default devices (as apply and update add them unless told not to)
    mgr.update({"devices": [{"allow": False, "access": "rwm"}]})
    assert "c 1:3 rwm" in _read(mgr, "devices", "devices.list").splitlines()


def test_a_failed_create_leaves_nothing_behind() -> None:
    # "memory.limit_in_bytes" is a file at the memory hierarchy's root, an ordinary name everywhere else:
    # every other hierarchy gets its directory made before the memory one fails.
    name = f"ketch-test-{secrets.token_hex(4)}"
    m = new_manager(f"/memory.limit_in_bytes/{name}", name)
    with pytest.raises(CgroupError, match=r"cannot create cgroup /sys/fs/cgroup/memory/memory\.limit_in_bytes"):
        m.create()
    for d in m.paths.values():
        assert not os.path.exists(os.path.dirname(d)) or d.startswith("/sys/fs/cgroup/memory/"), d
    assert not any(os.path.exists(d) for d in m.paths.values())


def test_destroy_with_a_live_process_says_busy(mgr: Manager) -> None:
    child = subprocess.Popen(["sleep", "300"])
    try:
        mgr.add_pid(child.pid)
        with pytest.raises(CgroupError, match="still has processes"):
            mgr.destroy(timeout=0.05)
    finally:
        child.kill()
        child.wait()
    mgr.destroy()


def test_block_io_throttle_on_a_real_disk(mgr: Manager) -> None:
    disks = [d for d in sorted(os.listdir("/sys/block")) if not d.startswith(("loop", "ram", "zram"))]
    if not disks or "blkio" not in mgr.paths:
        pytest.skip("no disk or no blkio hierarchy")
    major, minor = (int(x) for x in Path(f"/sys/block/{disks[0]}/dev").read_text().split(":"))
    mgr.apply({"blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1 << 20}],
                           "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]}})
    assert _read(mgr, "blkio", "blkio.throttle.read_bps_device") == f"{major}:{minor} {1 << 20}"
    assert _read(mgr, "blkio", "blkio.throttle.write_iops_device") == f"{major}:{minor} 100"
    with pytest.raises(CgroupConfigError, match=r"^linux\.resources\.blockIO\.throttleReadBpsDevice\[0\]: writing"):
        mgr.apply({"blockIO": {"throttleReadBpsDevice": [{"major": 4095, "minor": 4095, "rate": 1}]}}, default_devices=False)
