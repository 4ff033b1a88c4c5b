"""v1 controllers against a temp directory that imitates cgroupfs: write, then read the files back."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketch.runtime.cgroups import CgroupConfigError
from ketch.runtime.cgroups.stats import empty_stats
from ketch.runtime.cgroups.v1 import (
    blkio,
    cpu,
    cpuacct,
    cpuset,
    freezer,
    hugetlb,
    memory,
    network,
    pids,
    rdma,
)


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


MEMORY_FILES = {
    "memory.limit_in_bytes": "9223372036854771712\n",
    "memory.memsw.limit_in_bytes": "9223372036854771712\n",
    "memory.soft_limit_in_bytes": "0\n",
    "memory.swappiness": "60\n",
    "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
    "memory.use_hierarchy": "1\n",
    "memory.usage_in_bytes": "4096\n",
    "memory.max_usage_in_bytes": "8192\n",
    "memory.failcnt": "2\n",
    "memory.stat": "cache 100\nrss 200\n",
}


def test_memory_limits_swap_and_flags(tmp_path: Path) -> None:
    p = fake(tmp_path, MEMORY_FILES)
    res = {
        "memory": {
            "limit": 1 << 20,
            "swap": 2 << 20,
            "reservation": 1 << 19,
            "swappiness": 10,
            "disableOOMKiller": True,
            "useHierarchy": True,
        }
    }
    assert memory.wanted(res)
    memory.apply(p, res, no_warn)
    assert read(p, "memory.limit_in_bytes") == str(1 << 20)
    assert read(p, "memory.memsw.limit_in_bytes") == str(2 << 20)
    assert read(p, "memory.soft_limit_in_bytes") == str(1 << 19)
    assert read(p, "memory.swappiness") == "10"
    assert read(p, "memory.oom_control") == "1"
    assert read(p, "memory.use_hierarchy") == "1"


def test_memory_unlimited_limit_makes_swap_unlimited(tmp_path: Path) -> None:
    p = fake(tmp_path, MEMORY_FILES)
    memory.apply(p, {"memory": {"limit": -1}}, no_warn)
    assert read(p, "memory.memsw.limit_in_bytes") == "-1"
    assert read(p, "memory.limit_in_bytes") == "-1"


def test_memory_errors_name_the_field(tmp_path: Path) -> None:
    p = fake(tmp_path, MEMORY_FILES)
    with pytest.raises(CgroupConfigError, match=r"linux\.resources\.memory\.swap: 1 is below"):
        memory.apply(p, {"memory": {"limit": 2, "swap": 1}}, no_warn)
    with pytest.raises(CgroupConfigError, match=r"linux\.resources\.memory\.swappiness: 101 is above the maximum 100"):
        memory.apply(p, {"memory": {"swappiness": 101}}, no_warn)
    with pytest.raises(CgroupConfigError, match=r"linux\.resources\.memory\.limit: expected an integer"):
        memory.apply(p, {"memory": {"limit": "1G"}}, no_warn)
    memory.apply(p, {"memory": {"limit": 100, "swap": 200}}, no_warn)
    with pytest.raises(CgroupConfigError, match=r"memory\.limit: 300 is above the current memory\+swap limit 200; set"):
        memory.apply(p, {"memory": {"limit": 300}}, no_warn)
    (Path(p) / "memory.memsw.limit_in_bytes").unlink()
    with pytest.raises(CgroupConfigError, match=r"memory\.swap: swap accounting is not enabled"):
        memory.apply(p, {"memory": {"swap": 100}}, no_warn)


def test_kernel_memory_is_ignored_with_a_warning_where_missing(tmp_path: Path) -> None:
    p = fake(tmp_path, MEMORY_FILES | {"memory.kmem.tcp.limit_in_bytes": "0"})
    warnings: list[str] = []
    memory.apply(p, {"memory": {"kernel": 1 << 20, "kernelTCP": 1 << 20}}, warnings.append)
    assert len(warnings) == 1 and "memory.kernel: ignored" in warnings[0]
    assert read(p, "memory.kmem.tcp.limit_in_bytes") == str(1 << 20)


def test_memory_stats_and_oom_kills(tmp_path: Path) -> None:
    p = fake(tmp_path, MEMORY_FILES)
    out = empty_stats()
    memory.stats(p, out)
    assert out["memory"]["usage"] == {"limit": 9223372036854771712, "usage": 4096, "max": 8192, "failcnt": 2}
    assert out["memory"]["cache"] == 100 and out["memory"]["raw"] == {"cache": 100, "rss": 200}
    assert out["memory"]["kernel"] == {"limit": 0, "failcnt": 0}
    assert memory.oom_kill_count(p) == 3


def test_cpu_fields(tmp_path: Path) -> None:
    names = ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.cfs_burst_us", "cpu.rt_runtime_us",
             "cpu.rt_period_us", "cpu.idle"]
    p = fake(tmp_path, dict.fromkeys(names, "0\n"))
    res = {"cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000, "realtimeRuntime": 950,
                   "realtimePeriod": 1000, "idle": 1}}
    cpu.apply(p, res, no_warn)
    got = {n: read(p, n) for n in names}
    assert got == {"cpu.shares": "512", "cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000",
                   "cpu.cfs_burst_us": "1000", "cpu.rt_runtime_us": "950", "cpu.rt_period_us": "1000", "cpu.idle": "1"}
    cpu.apply(p, {"cpu": {"quota": -1}}, no_warn)
    assert read(p, "cpu.cfs_quota_us") == "-1"
    (Path(p) / "cpu.cfs_burst_us").unlink()
    with pytest.raises(CgroupConfigError, match=r"linux\.resources\.cpu\.burst: this host has no cpu\.cfs_burst_us"):
        cpu.apply(p, {"cpu": {"burst": 5}}, no_warn)
    assert not cpu.wanted({"cpu": {"cpus": "0"}})


def test_cpu_and_cpuacct_stats(tmp_path: Path) -> None:
    p = fake(tmp_path, {"cpu.stat": "nr_periods 10\nnr_throttled 2\nthrottled_time 300\n",
                        "cpuacct.usage": "1000\n", "cpuacct.usage_percpu": "600 400 \n",
                        "cpuacct.stat": "user 2\nsystem 1\n"})
    out = empty_stats()
    cpu.stats(p, out)
    cpuacct.stats(p, out)
    assert out["cpu"]["throttling"] == {"periods": 10, "throttledPeriods": 2, "throttledTime": 300}
    usage = out["cpu"]["usage"]
    assert usage["total"] == 1000 and usage["percpu"] == [600, 400]
    assert usage["user"] > usage["kernel"] > 0


def test_cpuset_write_and_inherit(tmp_path: Path) -> None:
    top = tmp_path / "cpuset"
    leaf = top / "a" / "b"
    leaf.mkdir(parents=True)
    (top / "cpuset.cpus").write_text("0-3\n")
    (top / "cpuset.mems").write_text("0\n")
    for d in (top / "a", leaf):
        (d / "cpuset.cpus").write_text("\n")
        (d / "cpuset.mems").write_text("\n")
    cpuset.inherit(str(leaf), str(top))
    assert read(str(top / "a"), "cpuset.cpus") == "0-3" and read(str(leaf), "cpuset.mems") == "0"
    cpuset.apply(str(leaf), {"cpu": {"cpus": "1,2", "mems": "0"}}, no_warn)
    assert read(str(leaf), "cpuset.cpus") == "1,2"
    out = empty_stats()
    cpuset.stats(str(leaf), out)
    assert out["cpuset"]["cpus"] == [1, 2] and out["cpuset"]["mems"] == [0]


def test_pids(tmp_path: Path) -> None:
    p = fake(tmp_path, {"pids.max": "max\n", "pids.current": "3\n"})
    pids.apply(p, {"pids": {"limit": 42}}, no_warn)
    assert read(p, "pids.max") == "42"
    pids.apply(p, {"pids": {"limit": -1}}, no_warn)
    assert read(p, "pids.max") == "max"
    assert not pids.wanted({"pids": {"limit": 0}})
    out = empty_stats()
    pids.stats(p, out)
    assert out["pids"] == {"current": 3}


def test_blkio_weights_throttles_and_stats(tmp_path: Path) -> None:
    names = ["blkio.bfq.weight", "blkio.bfq.weight_device", "blkio.throttle.read_bps_device",
             "blkio.throttle.write_iops_device"]
    p = fake(tmp_path, dict.fromkeys(names, ""))
    res = {"blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 500}],
                       "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                       "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 10}]}}
    blkio.apply(p, res, no_warn)
    assert read(p, "blkio.bfq.weight") == "300"
    assert read(p, "blkio.bfq.weight_device") == "8:0 500"
    assert read(p, "blkio.throttle.read_bps_device") == "8:0 1048576"
    assert read(p, "blkio.throttle.write_iops_device") == "8:16 10"
    (Path(p) / "blkio.bfq.weight").unlink()
    with pytest.raises(CgroupConfigError, match=r"blockIO\.weight: this host has no blkio\.weight"):
        blkio.apply(p, {"blockIO": {"weight": 300}}, no_warn)
    with pytest.raises(CgroupConfigError, match=r"blockIO\.weight: 5 is below the minimum 10"):
        blkio.apply(p, {"blockIO": {"weight": 5}}, no_warn)
    with pytest.raises(CgroupConfigError, match=r"throttleReadBpsDevice\[0\]: major and minor are required"):
        blkio.apply(p, {"blockIO": {"throttleReadBpsDevice": [{"rate": 1}]}}, no_warn)
    (Path(p) / "blkio.throttle.io_serviced_recursive").write_text("8:0 Read 4\n8:0 Write 5\nTotal 9\n")
    (Path(p) / "blkio.throttle.io_service_bytes_recursive").write_text("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n")
    out = empty_stats()
    blkio.stats(p, out)
    assert out["blkio"]["ioServicedRecursive"] == [
        {"major": 8, "op": "Read", "value": 4}, {"major": 8, "op": "Write", "value": 5}]
    assert out["blkio"]["ioServiceBytesRecursive"][1] == {"major": 8, "op": "Write"}


def test_hugetlb(tmp_path: Path) -> None:
    p = fake(tmp_path, {"hugetlb.2MB.limit_in_bytes": "0", "hugetlb.2MB.rsvd.limit_in_bytes": "0",
                        "hugetlb.2MB.usage_in_bytes": "0", "hugetlb.2MB.max_usage_in_bytes": "4194304",
                        "hugetlb.2MB.failcnt": "1"})
    hugetlb.apply(p, {"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}, no_warn)
    assert read(p, "hugetlb.2MB.limit_in_bytes") == read(p, "hugetlb.2MB.rsvd.limit_in_bytes") == "4194304"
    with pytest.raises(CgroupConfigError, match=r"hugepageLimits\[0\]\.pageSize: '3MB' is not a huge page size"):
        hugetlb.apply(p, {"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]}, no_warn)
    with pytest.raises(CgroupConfigError, match=r"hugepageLimits\[0\]\.pageSize: '\.\./x' is not a page size"):
        hugetlb.apply(p, {"hugepageLimits": [{"pageSize": "../x", "limit": 1}]}, no_warn)
    out = empty_stats()
    hugetlb.stats(p, out)
    assert out["hugetlb"] == {"2MB": {"max": 4194304, "failcnt": 1}}


def test_freezer_state_names(tmp_path: Path) -> None:
    p = fake(tmp_path, {"freezer.state": "FREEZING\n"})
    assert freezer.state(p) == "freezing"
    freezer.thaw(p)  # a plain file "settles" at once
    assert freezer.state(p) == "thawed"


def test_rdma_and_network(tmp_path: Path) -> None:
    p = fake(tmp_path, {"rdma.max": "", "net_cls.classid": "0", "net_prio.ifpriomap": ""})
    rdma.apply(p, {"rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}}}, no_warn)
    assert read(p, "rdma.max") == "mlx5_1 hca_handle=3 hca_object=10000"
    with pytest.raises(CgroupConfigError, match=r"linux\.resources\.rdma: 'a b' is not an RDMA device name"):
        rdma.apply(p, {"rdma": {"a b": {"hcaHandles": 1}}}, no_warn)
    res = {"network": {"classID": 0x100001, "priorities": [{"name": "eth0", "priority": 5}]}}
    network.apply_class(p, res)
    network.apply_priorities(p, res)
    assert read(p, "net_cls.classid") == str(0x100001)
    assert read(p, "net_prio.ifpriomap") == "eth0 5"
