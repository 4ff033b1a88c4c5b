"""Reading a cgroup's usage for the stats RPCs (cgroup v1 controllers, or the unified v2 tree)."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

__all__ = ["CGROUP_ROOT", "CgroupUsage", "InterfaceUsage", "cgroup_dirs", "interface_usage", "is_v2", "oom_killed",
           "read_usage", "rel_path", "remove_cgroup"]

CGROUP_ROOT = "/sys/fs/cgroup"
_V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "blkio", "devices", "freezer", "cpuset", "hugetlb",
                   "perf_event", "net_cls", "net_prio", "systemd", "rdma", "misc", "unified")


@dataclass(frozen=True)
class CgroupUsage:
    timestamp: int
    cpu_ns: int | None = None
    memory_usage: int | None = None
    working_set: int | None = None
    rss: int | None = None
    page_faults: int | None = None
    major_page_faults: int | None = None
    memory_limit: int | None = None
    pids: int | None = None


def is_v2() -> bool:
    return os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(" ")
                with contextlib.suppress(ValueError):
                    out[k] = int(v)
    except OSError:
        pass
    return out


def rel_path(path: str) -> str:
    p = os.path.normpath("/" + path).lstrip("/")
    if p.startswith(".."):
        raise ValueError(f"cgroup path {path!r} escapes the hierarchy")
    return p


def read_usage(cgroup_path: str) -> CgroupUsage:
    rel = rel_path(cgroup_path)
    now = time.time_ns()
    if is_v2():
        d = os.path.join(CGROUP_ROOT, rel)
        cpu = _read_kv(os.path.join(d, "cpu.stat")).get("usage_usec")
        stat = _read_kv(os.path.join(d, "memory.stat"))
        usage = _read_int(os.path.join(d, "memory.current"))
        ws = None if usage is None else max(0, usage - stat.get("inactive_file", 0))
        return CgroupUsage(now, None if cpu is None else cpu * 1000, usage, ws, stat.get("anon"),
                           stat.get("pgfault"), stat.get("pgmajfault"), _read_int(os.path.join(d, "memory.max")),
                           _read_int(os.path.join(d, "pids.current")))
    mem = os.path.join(CGROUP_ROOT, "memory", rel)
    stat = _read_kv(os.path.join(mem, "memory.stat"))
    usage = _read_int(os.path.join(mem, "memory.usage_in_bytes"))
    # cadvisor's working set: usage minus inactive file pages (reclaimable without I/O).
    ws = None if usage is None else max(0, usage - stat.get("total_inactive_file", 0))
    return CgroupUsage(
        now,
        _read_int(os.path.join(CGROUP_ROOT, "cpuacct", rel, "cpuacct.usage")),
        usage,
        ws,
        stat.get("total_rss"),
        stat.get("total_pgfault"),
        stat.get("total_pgmajfault"),
        _read_int(os.path.join(mem, "memory.limit_in_bytes")),
        _read_int(os.path.join(CGROUP_ROOT, "pids", rel, "pids.current")),
    )


def oom_killed(cgroup_path: str) -> bool:
    """Did the kernel OOM-kill a task of this cgroup (v1 memory.oom_control, v2 memory.events)?"""
    rel = rel_path(cgroup_path)
    if is_v2():
        return _read_kv(os.path.join(CGROUP_ROOT, rel, "memory.events")).get("oom_kill", 0) > 0
    return _read_kv(os.path.join(CGROUP_ROOT, "memory", rel, "memory.oom_control")).get("oom_kill", 0) > 0


def cgroup_dirs(cgroup_path: str) -> list[str]:
    """Every directory of this cgroup path that exists, across the mounted hierarchies."""
    rel = rel_path(cgroup_path)
    if not rel:
        return []
    if is_v2():
        cands = [os.path.join(CGROUP_ROOT, rel)]
    else:
        cands = [os.path.join(CGROUP_ROOT, c, rel) for c in _V1_CONTROLLERS]
    return [c for c in cands if os.path.isdir(c)]


def remove_cgroup(cgroup_path: str) -> list[str]:
    """rmdir the cgroup (children first) in every hierarchy; returns directories that could not go."""
    left = []
    for top in cgroup_dirs(cgroup_path):
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -t[0].count("/")):
            try:
                os.rmdir(dirpath)
            except FileNotFoundError:
                pass
            except OSError:
                left.append(dirpath)
    return left


@dataclass(frozen=True)
class InterfaceUsage:
    name: str
    rx_bytes: int
    rx_errors: int
    tx_bytes: int
    tx_errors: int


def interface_usage(pid: int) -> list[InterfaceUsage]:
    """Counters of every interface but lo in the network namespace of process ``pid`` (/proc/PID/net/dev
    shows the namespace of that process, so no setns is needed)."""
    out = []
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.read().splitlines()[2:]
    except OSError:
        return []
    for line in lines:
        name, _, rest = line.partition(":")
        name = name.strip()
        fields = rest.split()
        if name == "lo" or len(fields) < 11:
            continue
        out.append(InterfaceUsage(name, int(fields[0]), int(fields[2]), int(fields[8]), int(fields[10])))
    return out
