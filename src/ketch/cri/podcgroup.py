"""Limits on a pod's cgroup parent (UpdatePodSandboxResources), written to the cgroupfs files directly:
the pod cgroup holds no process of its own, so no runtime is involved.

cgroup v1: ``memory.limit_in_bytes``, ``cpu.shares``, ``cpu.cfs_period_us``, ``cpu.cfs_quota_us``;
cgroup v2: ``memory.max``, ``cpu.weight`` (from shares, as runc converts them), ``cpu.max``.
"""

from __future__ import annotations

import os

from ketch.cri.cgstats import CGROUP_ROOT, is_v2, rel_path
from ketch.cri.errors import FailedPrecondition, InvalidArgument

__all__ = ["apply_pod_limits", "shares_to_weight"]


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares [2, 262144] -> v2 cpu.weight [1, 10000] (runc's ConvertCPUSharesToCgroupV2Value)."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise FailedPrecondition(f"cannot write {value!r} to {path}: {e.strerror}") from None


def apply_pod_limits(cgroup_path: str, *, memory: int = 0, cpu_shares: int = 0, cpu_quota: int = 0,
                     cpu_period: int = 0) -> list[str]:
    """Write the given (non-zero) limits; returns the files written. The cgroup is created if missing."""
    if memory < 0 or cpu_shares < 0 or cpu_period < 0:
        raise InvalidArgument("pod resources must not be negative")
    rel = rel_path(cgroup_path)
    if not rel:
        raise InvalidArgument("the root cgroup cannot be limited")
    done: list[str] = []
    if is_v2():
        d = os.path.join(CGROUP_ROOT, rel)
        os.makedirs(d, exist_ok=True)
        writes = []
        if memory:
            writes.append(("memory.max", str(memory)))
        if cpu_shares:
            writes.append(("cpu.weight", str(shares_to_weight(cpu_shares))))
        if cpu_quota or cpu_period:
            quota = "max" if cpu_quota <= 0 else str(cpu_quota)
            writes.append(("cpu.max", f"{quota} {cpu_period or 100000}"))
        for name, value in writes:
            _write(os.path.join(d, name), value)
            done.append(os.path.join(d, name))
        return done
    if memory:
        d = os.path.join(CGROUP_ROOT, "memory", rel)
        os.makedirs(d, exist_ok=True)
        _write(os.path.join(d, "memory.limit_in_bytes"), str(memory))
        done.append(os.path.join(d, "memory.limit_in_bytes"))
    cpu_writes = []
    if cpu_shares:
        cpu_writes.append(("cpu.shares", str(cpu_shares)))
    if cpu_period:
        cpu_writes.append(("cpu.cfs_period_us", str(cpu_period)))
    if cpu_quota:
        cpu_writes.append(("cpu.cfs_quota_us", str(cpu_quota)))
    if cpu_writes:
        d = os.path.join(CGROUP_ROOT, "cpu", rel)
        os.makedirs(d, exist_ok=True)
        for name, value in cpu_writes:
            _write(os.path.join(d, name), value)
            done.append(os.path.join(d, name))
    return done
