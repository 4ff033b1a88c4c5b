"""The same linux.resources through runc and through the v1 manager: the cgroup files must read back the same,
and ``runc events --stats`` must have the shape of our stats()."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from ketch.runtime.cgroups import CgroupError, detect_mode, new_manager

pytestmark = [pytest.mark.root, pytest.mark.peer]


def _usable() -> bool:
    try:
        return os.geteuid() == 0 and shutil.which("runc") is not None and detect_mode() in ("v1", "hybrid")
    except CgroupError:
        return False


if not _usable():
    pytest.skip("needs root, runc and cgroup v1 controllers", allow_module_level=True)

FILES = [
    ("memory", "memory.limit_in_bytes"),
    ("memory", "memory.memsw.limit_in_bytes"),
    ("memory", "memory.swappiness"),
    ("pids", "pids.max"),
    ("cpu", "cpu.shares"),
    ("cpu", "cpu.cfs_quota_us"),
    ("cpu", "cpu.cfs_period_us"),
    ("cpuset", "cpuset.cpus"),
    ("devices", "devices.list"),
]


def _resources(swap: bool) -> dict[str, object]:
    memory: dict[str, int] = {"limit": 64 << 20, "swappiness": 20}
    if swap:
        memory["swap"] = 128 << 20
    return {
        "devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "r"}],
        "memory": memory,
        "pids": {"limit": 30},
        "cpu": {"shares": 300, "quota": 20000, "period": 100000, "cpus": "0"},
    }


def _files(paths: dict[str, str]) -> dict[str, list[str]]:
    out = {}
    for controller, name in FILES:
        p = Path(paths[controller], name)
        if p.exists():
            out[name] = sorted(p.read_text().split("\n"))
    return out


def test_runc_and_ketch_write_the_same_files(tmp_path: Path) -> None:
    from ketch.testing import make_bundle

    swap = os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    suffix = secrets.token_hex(4)
    bundle = make_bundle(str(tmp_path / "bundle"), ["sleep", "30"])
    config = json.loads(Path(bundle, "config.json").read_text())
    config["linux"]["cgroupsPath"] = f"/ketch-peer-{suffix}"
    config["linux"]["resources"] = _resources(swap)
    Path(bundle, "config.json").write_text(json.dumps(config))
    root = str(tmp_path / "runc-root")
    cid = f"ketch-peer-{suffix}"
    subprocess.run(["runc", "--root", root, "create", "--bundle", bundle, cid], check=True, timeout=60)
    ours = new_manager(f"/ketch-test-{suffix}", cid)
    try:
        theirs = {c: d.replace(f"/ketch-test-{suffix}", f"/ketch-peer-{suffix}") for c, d in ours.paths.items()}
        runc_files = _files(theirs)
        assert len(runc_files) >= 8 and "c 1:11 r" in runc_files["devices.list"], runc_files
        events = subprocess.run(["runc", "--root", root, "events", "--stats", cid], check=True, capture_output=True,
                                timeout=60, text=True)
        runc_stats = json.loads(events.stdout)["data"]
        ours.create()
        ours.apply(config["linux"]["resources"])
        assert _files(ours.paths) == runc_files
        stats = ours.stats()
        assert set(stats) == set(runc_stats)
        assert set(stats["cpuset"]) == set(runc_stats["cpuset"])
        assert set(stats["memory"]) - {"cache", "raw"} == set(runc_stats["memory"]) - {"cache", "raw"}
        assert set(stats["hugetlb"]) == set(runc_stats["hugetlb"])
    finally:
        subprocess.run(["runc", "--root", root, "delete", "-f", cid], timeout=60)
        if ours.exists():
            ours.destroy()
