"""Resource usage of a container from its cgroup (v1 controllers, or the v2 unified hierarchy)."""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Usage", "cgroup_mode", "read_usage"]

CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass(frozen=True)
class Usage:
    cpu_ns: int | None
    memory_bytes: int | None
    memory_limit: int | None
    pids: int | None


def cgroup_mode() -> str:
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
        return "v2 (unified)"
    if os.path.isdir(os.path.join(CGROUP_ROOT, "unified")):
        return "v1 (hybrid: v1 controllers, empty v2 at /sys/fs/cgroup/unified)"
    return "v1"


def _int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().split()[0]
    except (OSError, IndexError):
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def read_usage(cgroup_path: str) -> Usage:
    rel = cgroup_path.lstrip("/")
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
        base = os.path.join(CGROUP_ROOT, rel)
        cpu = None
        try:
            with open(os.path.join(base, "cpu.stat")) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        cpu = int(value) * 1000
        except OSError:
            pass
        return Usage(cpu, _int(os.path.join(base, "memory.current")), _int(os.path.join(base, "memory.max")),
                     _int(os.path.join(base, "pids.current")))  # fmt: skip
    limit = _int(os.path.join(CGROUP_ROOT, "memory", rel, "memory.limit_in_bytes"))
    if limit is not None and limit >= 1 << 62:
        limit = None
    return Usage(
        _int(os.path.join(CGROUP_ROOT, "cpuacct", rel, "cpuacct.usage")),
        _int(os.path.join(CGROUP_ROOT, "memory", rel, "memory.usage_in_bytes")),
        limit,
        _int(os.path.join(CGROUP_ROOT, "pids", rel, "pids.current")),
    )
