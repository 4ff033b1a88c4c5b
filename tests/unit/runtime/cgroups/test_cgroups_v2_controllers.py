"""v2 controllers against a temp directory that imitates a cgroup2 directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketch.runtime.cgroups import CgroupConfigError
from ketch.runtime.cgroups.stats import empty_stats
from ketch.runtime.cgroups.v2 import cpu, cpuset, freezer, hugetlb, io, memory, pids, rdma, unified


def fake(tmp_path: Path, files: dict[str, str]) -> str:
    d = tmp_path / "cg"
    d.mkdir(exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)
    return str(d)


def read(path: str, name: str) -> str:
    return (Path(path) / name).read_text().strip()


def no_warn(msg: str) -> None:
    raise AssertionError(f"unexpected warning {msg}")


def test_memory_limit_swap_and_reservation(tmp_path: Path) -> None:
    p = fake(tmp_path, {"memory.max": "max", "memory.swap.max": "max", "memory.low": "0"})
    memory.apply(p, {"memory": {"limit": 100 << 20, "swap": 150 << 20, "reservation": 50 << 20}}, no_warn)
    assert read(p, "memory.max") == str(100 << 20)
    assert read(p, "memory.swap.max") == str(50 << 20)  # spec swap is memory+swap
    assert read(p, "memory.low") == str(50 << 20)
    memory.apply(p, {"memory": {"limit": -1, "swap": -1}}, no_warn)
    assert read(p, "memory.max") == "max" and read(p, "memory.swap.max") == "max"


def test_memory_refusals_name_the_field(tmp_path: Path) -> None:
    p = fake(tmp_path, {"memory.max": "max", "memory.swap.max": "max"})
    for mem, pattern in (
        ({"limit": 10, "swap": 5}, r"memory\.swap: 5 is below"),
        ({"swap": 5}, r"memory\.swap: on cgroup v2 it needs"),
        ({"swappiness": 5}, r"memory\.swappiness: cgroup v2 has no per-cgroup swappiness"),
        ({"disableOOMKiller": True}, r"memory\.disableOOMKiller: cgroup v2 cannot"),
    ):
        with pytest.raises(CgroupConfigError, match=pattern):
            memory.apply(p, {"memory": mem}, no_warn)
    warnings: list[str] = []
    memory.apply(p, {"memory": {"kernel": 1 << 20, "disableOOMKiller": False, "useHierarchy": True}}, warnings.append)
    assert warnings == ["linux.resources.memory.kernel: ignored, cgroup v2 has no separate kernel memory limit"]


def test_memory_stats_and_oom(tmp_path: Path) -> None:
    p = fake(tmp_path, {"memory.max": "max", "memory.current": "4096", "memory.stat": "anon 1\nfile 2\n",
                        "memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n"})
    out = empty_stats()
    memory.stats(p, out)
    assert out["memory"]["usage"] == {"limit": 2**64 - 1, "usage": 4096, "failcnt": 4}
    assert out["memory"]["cache"] == 2
    assert memory.oom_kill_count(p) == 1


def test_cpu_weight_and_max(tmp_path: Path) -> None:
    assert cpu.shares_to_weight(2) == 1 and cpu.shares_to_weight(262144) == 10000
    assert cpu.shares_to_weight(1024) == 39
    assert cpu.cpu_max(50000, 100000) == "50000 100000"
    assert cpu.cpu_max(-1, None) == "max" and cpu.cpu_max(None, 20000) == "max 20000"
    assert cpu.cpu_max(None, None) is None
    p = fake(tmp_path, {"cpu.weight": "100", "cpu.max": "max 100000", "cpu.max.burst": "0", "cpu.idle": "0"})
    cpu.apply(p, {"cpu": {"shares": 1024, "quota": 20000, "period": 100000, "burst": 500, "idle": 1}}, no_warn)
    assert [read(p, n) for n in ("cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle")] == ["39", "20000 100000", "500", "1"]
    with pytest.raises(CgroupConfigError, match=r"cpu\.realtimeRuntime: cgroup v2 has no realtime"):
        cpu.apply(p, {"cpu": {"realtimeRuntime": 1000}}, no_warn)
    with pytest.raises(CgroupConfigError, match=r"cpu\.shares: 1 is below the minimum 2"):
        cpu.apply(p, {"cpu": {"shares": 1}}, no_warn)
    (Path(p) / "cpu.stat").write_text("usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 3\nnr_throttled 1\nthrottled_usec 7\n")
    out = empty_stats()
    cpu.stats(p, out)
    assert out["cpu"]["usage"] == {"total": 10000, "user": 6000, "kernel": 4000}
    assert out["cpu"]["throttling"] == {"periods": 3, "throttledPeriods": 1, "throttledTime": 7000}


def test_cpuset_and_pids(tmp_path: Path) -> None:
    p = fake(tmp_path, {"cpuset.cpus": "", "cpuset.mems": "", "pids.max": "max", "pids.current": "2",
                        "cpuset.cpus.effective": "0-1"})
    cpuset.apply(p, {"cpu": {"cpus": "0-1", "mems": "0"}}, no_warn)
    pids.apply(p, {"pids": {"limit": 7}}, no_warn)
    assert (read(p, "cpuset.cpus"), read(p, "cpuset.mems"), read(p, "pids.max")) == ("0-1", "0", "7")
    out = empty_stats()
    cpuset.stats(p, out)
    pids.stats(p, out)
    assert out["cpuset"]["cpus"] == [0, 1] and out["pids"] == {"current": 2, "limit": 7}


def test_io_weight_and_max(tmp_path: Path) -> None:
    assert io.blkio_to_io_weight(10) == 1 and io.blkio_to_io_weight(1000) == 10000
    p = fake(tmp_path, {"io.weight": "default 100", "io.max": ""})
    io.apply(p, {"blockIO": {"weight": 500, "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]}}, no_warn)
    assert read(p, "io.weight") == f"default {io.blkio_to_io_weight(500)}"
    assert read(p, "io.max") == "8:0 wbps=1000"
    (Path(p) / "io.bfq.weight").write_text("default 100")
    io.apply(p, {"blockIO": {"weight": 500}}, no_warn)
    assert read(p, "io.bfq.weight") == "500"
    with pytest.raises(CgroupConfigError, match=r"blockIO\.leafWeight: cgroup v2 has no leaf weight"):
        io.apply(p, {"blockIO": {"leafWeight": 500}}, no_warn)
    (Path(p) / "io.stat").write_text("8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n")
    out = empty_stats()
    io.stats(p, out)
    assert out["blkio"]["ioServiceBytesRecursive"] == [
        {"major": 8, "op": "Read", "value": 4096}, {"major": 8, "op": "Write"}]


def test_hugetlb_and_rdma(tmp_path: Path) -> None:
    p = fake(tmp_path, {"hugetlb.2MB.max": "max", "hugetlb.2MB.current": "0", "hugetlb.2MB.events": "max 2\n",
                        "rdma.max": ""})
    hugetlb.apply(p, {"hugepageLimits": [{"pageSize": "2MB", "limit": 2 << 20}]}, no_warn)
    assert read(p, "hugetlb.2MB.max") == str(2 << 20)
    with pytest.raises(CgroupConfigError, match=r"hugepageLimits\[0\]\.pageSize: '1GB' is not a huge page size"):
        hugetlb.apply(p, {"hugepageLimits": [{"pageSize": "1GB", "limit": 1}]}, no_warn)
    out = empty_stats()
    hugetlb.stats(p, out)
    assert out["hugetlb"] == {"2MB": {"max": 2 << 20, "failcnt": 2}}
    rdma.apply(p, {"rdma": {"mlx4_0": {"hcaObjects": 5}}}, no_warn)
    assert read(p, "rdma.max") == "mlx4_0 hca_object=5"


def test_unified_writes_and_refusals(tmp_path: Path) -> None:
    p = fake(tmp_path, {"cgroup.controllers": "memory pids", "memory.high": "max", "cgroup.procs": ""})
    unified.apply(p, {"unified": {"memory.high": "1000000"}}, no_warn)
    assert read(p, "memory.high") == "1000000"
    for key, value, pattern in (
        ("io.max", "8:0 rbps=1", r"unified\.io\.max: the io controller is not available in .* \(available: memory pids\)"),
        ("memory.nope", "1", r"unified\.memory\.nope: no such cgroup v2 interface file"),
        ("../x.y", "1", r"not a cgroup v2 interface file name"),
        ("cgroup.procs", "1", r"unified\.cgroup\.procs: managed by the runtime"),
        ("memory.high", 5, r"unified\.memory\.high: expected a string value"),
    ):
        with pytest.raises(CgroupConfigError, match=pattern):
            unified.apply(p, {"unified": {key: value}}, no_warn)


def test_freezer_state(tmp_path: Path) -> None:
    p = fake(tmp_path, {"cgroup.freeze": "1", "cgroup.events": "populated 1\nfrozen 0\n"})
    assert freezer.state(p) == "freezing"
    (Path(p) / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    assert freezer.state(p) == "frozen"
    freezer.freeze(p)
    assert read(p, "cgroup.freeze") == "1"
