"""The v2 manager on a real cgroup2 tree: the unified hierarchy (/sys/fs/cgroup on a v2 host, its ``unified``
mount on a hybrid one). Without controllers (hybrid: v1 holds them) the core still works: membership,
cgroup.freeze, cgroup.kill, cpu.stat, and the eBPF device filter, which the kernel runs for every task in a
cgroup2 directory whatever the controllers."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.runtime.cgroups import CgroupConfigError, CgroupError, detect_mode, new_manager
from ketch.runtime.cgroups.base import Manager
from ketch.runtime.cgroups.v2 import devices

pytestmark = pytest.mark.root


def _v2_root() -> str | None:
    if os.geteuid() != 0:
        return None
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        try:
            if detect_mode(root) == "v2":
                return root
        except CgroupError:
            continue
    return None


ROOT = _v2_root()
if ROOT is None:
    pytest.skip("needs root and a cgroup2 hierarchy", allow_module_level=True)


@pytest.fixture
def mgr() -> Iterator[Manager]:
    assert ROOT is not None
    top_control = Path(ROOT, "cgroup.subtree_control").read_text().split()
    name = f"ketch-test-{secrets.token_hex(4)}"
    m = new_manager(f"/{name}", name, root=ROOT)
    m.create()
    yield m
    for pid in m.pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if m.exists():
        m.destroy()
    assert not os.path.exists(m.paths[""])
    # give back controllers create() delegated at the top, as they were (the host's own tree)
    for c in set(Path(ROOT, "cgroup.subtree_control").read_text().split()) - set(top_control):
        try:
            Path(ROOT, "cgroup.subtree_control").write_text(f"-{c}")
        except OSError:
            pass


def _waiting_child(script: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["sh", "-c", f"read go; {script}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def test_membership_freeze_stats_and_kill(mgr: Manager) -> None:
    child = subprocess.Popen(["sleep", "300"])
    try:
        mgr.add_pid(child.pid)
        assert mgr.pids() == [child.pid]
        assert Path(f"/proc/{child.pid}/cgroup").read_text().splitlines()[-1].endswith(
            mgr.paths[""].removeprefix(ROOT or ""))
        mgr.freeze()
        assert mgr.freezer_state() == "frozen"
        mgr.thaw()
        assert mgr.freezer_state() == "thawed"
        stats = mgr.stats()
        assert "user" in stats["cpu"]["usage"]
        mgr.kill_all(signal.SIGKILL)  # cgroup.kill
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()


def test_device_program_denies_and_update_replaces_it(mgr: Manager, tmp_path: Path) -> None:
    os.mknod(tmp_path / "null", 0o666 | 0o020000, os.makedev(1, 3))
    os.mknod(tmp_path / "zero", 0o666 | 0o020000, os.makedev(1, 5))
    mgr.apply({"devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}]},
              default_devices=False)
    assert len(devices.attached(mgr.paths[""])) == 1
    script = f"head -c1 {tmp_path}/null && echo null-ok; head -c1 {tmp_path}/zero >/dev/null 2>&1 || echo zero-denied"
    child = _waiting_child(script)
    mgr.add_pid(child.pid)
    out = child.communicate(b"go\n", timeout=30)[0].decode()
    assert "null-ok" in out and "zero-denied" in out, out

    mgr.update({"devices": [{"allow": False, "access": "rwm"}]})  # the defaults include /dev/zero
    assert len(devices.attached(mgr.paths[""])) == 1  # the old program was detached
    child = _waiting_child(script)
    mgr.add_pid(child.pid)
    out = child.communicate(b"go\n", timeout=30)[0].decode()
    assert "null-ok" in out and "zero-denied" not in out, out


def test_resources_without_their_controller_are_refused(mgr: Manager) -> None:
    available = Path(mgr.paths[""], "cgroup.controllers").read_text().split()
    if "pids" in available:
        pytest.skip("this cgroup2 tree has the pids controller")
    with pytest.raises(CgroupConfigError, match=r"^linux\.resources\.pids: the pids controller is not available"):
        mgr.apply({"pids": {"limit": 10}}, default_devices=False)


def test_hugetlb_limit_where_the_controller_is_on_v2(mgr: Manager) -> None:
    if "hugetlb" not in Path(mgr.paths[""], "cgroup.controllers").read_text().split():
        pytest.skip("hugetlb is not available on this cgroup2 tree")
    mgr.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]}, default_devices=False)
    assert Path(mgr.paths[""], "hugetlb.2MB.max").read_text().strip() == str(4 << 20)


def test_a_rejected_program_reports_the_verifier_log() -> None:
    from ketch.linux import bpf
    from ketch.runtime.cgroups.v2.devfilter import MOV64_K, insn

    with pytest.raises(OSError, match="verifier") as info:
        bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, insn(MOV64_K, 0, imm=1))  # no exit instruction
    assert info.value.errno is not None
