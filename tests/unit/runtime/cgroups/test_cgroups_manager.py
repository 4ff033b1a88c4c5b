"""Managers over temp directory trees: create/destroy bookkeeping, field errors, state, cheap import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ketch.runtime.cgroups import CgroupConfigError, CgroupError, new_manager_from_state
from ketch.runtime.cgroups.v1.manager import V1Manager
from ketch.runtime.cgroups.v2.manager import V2Manager


def test_failed_create_removes_what_it_made(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "pids").write_text("not a directory")  # mkdir under it fails with ENOTDIR
    mgr = V1Manager({"memory": str(tmp_path / "memory/a/b/c"), "pids": str(tmp_path / "pids/a/b/c")})
    with pytest.raises(CgroupError, match=r"cannot create cgroup .*pids/a"):
        mgr.create()
    assert os.listdir(tmp_path / "memory") == []
    assert mgr.created == []


def test_destroy_removes_the_cgroup_its_children_and_the_parents_it_made(tmp_path: Path) -> None:
    (tmp_path / "memory" / "shared").mkdir(parents=True)
    mgr = V1Manager({"memory": str(tmp_path / "memory/shared/k/c1"), "cpu": str(tmp_path / "cpu/k/c1")})
    (tmp_path / "cpu").mkdir()
    mgr.create()
    assert sorted(mgr.created) == sorted(
        [str(tmp_path / "cpu/k"), str(tmp_path / "cpu/k/c1"), str(tmp_path / "memory/shared/k"),
         str(tmp_path / "memory/shared/k/c1")])
    (tmp_path / "memory/shared/k/c1/nested").mkdir()
    again = new_manager_from_state(mgr.to_state())
    again.destroy()
    assert os.listdir(tmp_path / "cpu") == [] and os.listdir(tmp_path / "memory") == ["shared"]
    assert os.listdir(tmp_path / "memory/shared") == []


def test_destroy_keeps_a_parent_another_container_uses(tmp_path: Path) -> None:
    (tmp_path / "pids").mkdir()
    a = V1Manager({"pids": str(tmp_path / "pids/k/a")})
    a.create()
    b = V1Manager({"pids": str(tmp_path / "pids/k/b")})
    b.create()
    a.destroy()
    assert os.listdir(tmp_path / "pids/k") == ["b"]


def test_resources_for_a_missing_hierarchy_name_the_field(tmp_path: Path) -> None:
    mgr = V1Manager({"memory": str(tmp_path)})
    with pytest.raises(CgroupConfigError, match=r"^linux\.resources\.pids: the pids cgroup controller is not mounted"):
        mgr.apply({"pids": {"limit": 5}}, default_devices=False)
    with pytest.raises(CgroupConfigError, match=r"^linux\.resources\.unified: needs cgroup v2"):
        mgr.apply({"unified": {"memory.high": "1"}}, default_devices=False)
    with pytest.raises(CgroupConfigError, match=r"^linux\.resources\.devices: the devices cgroup controller"):
        mgr.apply({"devices": [{"allow": False}]})
    mgr.apply({"pids": {"limit": 0}, "cpu": {}}, default_devices=True)  # nothing asked: nothing needed


def test_v2_apply_checks_the_controller_is_enabled(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("memory\n")
    mgr = V2Manager({"": str(tmp_path)})
    with pytest.raises(CgroupConfigError, match=r"^linux\.resources\.pids: the pids controller is not available .* \(available: memory\)"):
        mgr.apply({"pids": {"limit": 5}}, default_devices=False)
    with pytest.raises(CgroupConfigError, match=r"^linux\.resources\.network: cgroup v2 has no"):
        mgr.apply({"network": {"classID": 1}}, default_devices=False)


def test_v2_create_delegates_controllers_down_the_tree(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "k").mkdir(parents=True)
    for d in (root, root / "k"):
        (d / "cgroup.controllers").write_text("cpu memory pids\n")
        (d / "cgroup.subtree_control").write_text("")
    mgr = V2Manager({"": str(root / "k/c1")})
    mgr.create()
    assert (root / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (root / "k/cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert mgr.created == [str(root / "k/c1")]


def test_import_is_cheap() -> None:
    code = (
        "import sys, ketch.runtime.cgroups as c; "
        "heavy = [m for m in ('typing', 're', 'json', 'dataclasses', 'logging', 'ctypes') if m in sys.modules]; "
        "ctl = [m for m in sys.modules if m.startswith('ketch.runtime.cgroups.v')]; "
        "print(heavy, ctl)"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[] []"


def test_v2_oom_watch_sees_the_kill_count_rise(tmp_path: Path) -> None:
    (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")
    mgr = V2Manager({"": str(tmp_path)})
    with mgr.oom_watch() as watch:
        assert not watch.wait(timeout=0.01)
        (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
        assert watch.wait(timeout=5)
        assert not watch.wait(timeout=0.01)


def test_oom_watch_needs_the_memory_controller(tmp_path: Path) -> None:
    with pytest.raises(CgroupError, match="memory cgroup controller is not available"):
        V1Manager({"pids": str(tmp_path)}).oom_watch()
