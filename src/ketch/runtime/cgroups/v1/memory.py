"""v1 memory controller: linux.resources.memory -> memory.* files (runtime-spec config-linux.md "Memory")."""

from __future__ import annotations

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.errors import CgroupConfigError
from ketch.runtime.cgroups.fields import PREFIX, opt_bool, opt_dict, opt_int, unset_if_zero
from ketch.runtime.cgroups.stats import memory_entry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources, Warn

HIERARCHY = "memory"
F = f"{PREFIX}.memory"
LIMIT = "memory.limit_in_bytes"
SWAP = "memory.memsw.limit_in_bytes"


def wanted(res: Resources) -> bool:
    return any(v is not None for v in opt_dict(res, "memory", PREFIX).values())


def _set_limit_and_swap(path: str, limit: int | None, swap: int | None) -> None:
    if limit == -1 and swap is None and fsio.exists(path, SWAP):
        swap = -1  # unlimited memory with swap unset means unlimited memory+swap too (as runc)
    if limit is not None and swap is not None:
        if 0 < swap < limit:
            raise CgroupConfigError(
                f"{F}.swap: {swap} is below {F}.limit {limit} (on cgroup v1 swap is the memory+swap limit)"
            )
        # The kernel wants memory <= memory+swap at every step: raise memsw first when growing.
        current = fsio.read_int(path, LIMIT)
        if swap == -1 or current < swap:
            fsio.write(path, SWAP, swap, f"{F}.swap")
            fsio.write(path, LIMIT, limit, f"{F}.limit")
            return
    if limit is not None:
        if swap is None and fsio.exists(path, SWAP):
            memsw = fsio.read_int(path, SWAP)
            if limit == -1 or limit > memsw:
                raise CgroupConfigError(
                    f"{F}.limit: {limit} is above the current memory+swap limit {memsw}; set {F}.swap too"
                )
        fsio.write(path, LIMIT, limit, f"{F}.limit")
    if swap is not None:
        if not fsio.exists(path, SWAP):
            raise CgroupConfigError(f"{F}.swap: swap accounting is not enabled on this host (no {SWAP})")
        fsio.write(path, SWAP, swap, f"{F}.swap")


def apply(path: str, res: Resources, warn: Warn) -> None:
    mem = opt_dict(res, "memory", PREFIX)
    limit = unset_if_zero(opt_int(mem, "limit", F, minimum=-1))
    swap = unset_if_zero(opt_int(mem, "swap", F, minimum=-1))
    reservation = unset_if_zero(opt_int(mem, "reservation", F, minimum=-1))
    kernel = unset_if_zero(opt_int(mem, "kernel", F, minimum=-1))
    kernel_tcp = unset_if_zero(opt_int(mem, "kernelTCP", F, minimum=-1))
    swappiness = opt_int(mem, "swappiness", F, minimum=0, maximum=100)
    disable_oom = opt_bool(mem, "disableOOMKiller", F)
    use_hierarchy = opt_bool(mem, "useHierarchy", F)

    _set_limit_and_swap(path, limit, swap)
    if reservation is not None:
        fsio.write(path, "memory.soft_limit_in_bytes", reservation, f"{F}.reservation")
    # Kernel memory limits are gone from newer kernels (files missing, or writes refused): accepted and
    # ignored with a warning, as runc does.
    for key, value, name in (
        ("kernel", kernel, "memory.kmem.limit_in_bytes"),
        ("kernelTCP", kernel_tcp, "memory.kmem.tcp.limit_in_bytes"),
    ):
        if value is None:
            continue
        if not fsio.exists(path, name):
            warn(f"{F}.{key}: ignored, this kernel has no {name}")
            continue
        try:
            fsio.write(path, name, value, f"{F}.{key}")
        except CgroupConfigError as exc:
            warn(f"{exc}; ignored")
    if swappiness is not None:
        fsio.write(path, "memory.swappiness", swappiness, f"{F}.swappiness")
    if disable_oom is not None:
        fsio.write(path, "memory.oom_control", int(disable_oom), f"{F}.disableOOMKiller")
    if use_hierarchy is not None:
        fsio.write(path, "memory.use_hierarchy", int(use_hierarchy), f"{F}.useHierarchy")


def _entry(path: str, prefix: str) -> dict[str, int]:
    if not fsio.exists(path, f"{prefix}.usage_in_bytes"):
        return {"limit": 0, "failcnt": 0}
    return memory_entry(
        fsio.read_int(path, f"{prefix}.limit_in_bytes", 0),
        fsio.read_int(path, f"{prefix}.usage_in_bytes", 0),
        fsio.read_int(path, f"{prefix}.max_usage_in_bytes", 0),
        fsio.read_int(path, f"{prefix}.failcnt", 0),
    )


def stats(path: str, out: dict[str, Any]) -> None:
    raw = fsio.read_keyed(path, "memory.stat")
    m = out["memory"]
    if raw.get("cache"):
        m["cache"] = raw["cache"]
    m["usage"] = _entry(path, "memory")
    m["swap"] = _entry(path, "memory.memsw")
    m["kernel"] = _entry(path, "memory.kmem")
    m["kernelTCP"] = _entry(path, "memory.kmem.tcp")
    if raw:
        m["raw"] = raw


def oom_kill_count(path: str) -> int:
    return fsio.read_keyed(path, "memory.oom_control").get("oom_kill", 0)
