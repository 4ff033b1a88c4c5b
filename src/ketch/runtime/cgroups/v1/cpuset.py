"""v1 cpuset controller: linux.resources.cpu.cpus / .mems (config-linux.md "CPU")."""

from __future__ import annotations

import os

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.fields import PREFIX, opt_dict, opt_str
from ketch.runtime.cgroups.stats import parse_cpu_list

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources, Warn

HIERARCHY = "cpuset"
F = f"{PREFIX}.cpu"


def wanted(res: Resources) -> bool:
    cpu = opt_dict(res, "cpu", PREFIX)
    return bool(cpu.get("cpus") or cpu.get("mems"))


def apply(path: str, res: Resources, warn: Warn) -> None:
    cpu = opt_dict(res, "cpu", PREFIX)
    cpus = opt_str(cpu, "cpus", F)
    mems = opt_str(cpu, "mems", F)
    if cpus:
        fsio.write(path, "cpuset.cpus", cpus, f"{F}.cpus")
    if mems:
        fsio.write(path, "cpuset.mems", mems, f"{F}.mems")


def inherit(path: str, stop: str) -> None:
    """Fill empty cpuset.cpus/mems from the parent, from ``stop`` (the mount) down to ``path``.

    A new v1 cpuset cgroup starts with no cpus and no mems, and no task can join it (ENOSPC) until they are
    set; runc copies them down from the nearest ancestor that has them.
    """
    chain = []
    cur = path
    while cur != stop and cur.startswith(stop):
        chain.append(cur)
        cur = os.path.dirname(cur)
    parent = stop
    for d in reversed(chain):
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not fsio.read_text(d, name).strip():
                fsio.write(d, name, fsio.read_text(parent, name).strip(), f"cgroup {d}")
        parent = d


def stats(path: str, out: dict[str, Any]) -> None:
    c = out["cpuset"]
    cpus = parse_cpu_list(fsio.read_text(path, "cpuset.cpus")) if fsio.exists(path, "cpuset.cpus") else []
    mems = parse_cpu_list(fsio.read_text(path, "cpuset.mems")) if fsio.exists(path, "cpuset.mems") else []
    if cpus:
        c["cpus"] = cpus
    if mems:
        c["mems"] = mems
    for key in (
        "cpu_exclusive",
        "mem_hardwall",
        "mem_exclusive",
        "memory_migrate",
        "memory_spread_page",
        "memory_spread_slab",
        "memory_pressure",
        "sched_load_balance",
        "sched_relax_domain_level",
    ):
        c[key] = fsio.read_int(path, f"cpuset.{key}", 0)
