"""v2 memory controller: linux.resources.memory -> memory.max / low / swap.max (config-linux.md "Memory")."""

from __future__ import annotations

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.errors import CgroupConfigError
from ketch.runtime.cgroups.fields import PREFIX, opt_bool, opt_dict, opt_int, unset_if_zero
from ketch.runtime.cgroups.stats import memory_entry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources, Warn

CONTROLLER = "memory"
F = f"{PREFIX}.memory"
UNLIMITED = 2**64 - 1  # how runc reports "max" in stats


def wanted(res: Resources) -> bool:
    return any(v is not None for v in opt_dict(res, "memory", PREFIX).values())


def _limit(v: int) -> str:
    return "max" if v == -1 else str(v)


def swap_max(limit: int | None, swap: int | None) -> str | None:
    """memory.swap.max from the spec's swap, which is memory+swap (as in v1), converted as runc does."""
    if swap is None:
        return None
    if swap == -1:
        return "max"
    if limit is None:
        raise CgroupConfigError(f"{F}.swap: on cgroup v2 it needs {F}.limit too (swap is memory+swap)")
    if limit == -1:
        raise CgroupConfigError(f"{F}.swap: {swap} cannot be set with an unlimited {F}.limit")
    if swap < limit:
        raise CgroupConfigError(f"{F}.swap: {swap} is below {F}.limit {limit} (swap is memory+swap)")
    return str(swap - limit)


def apply(path: str, res: Resources, warn: Warn) -> None:
    mem = opt_dict(res, "memory", PREFIX)
    limit = unset_if_zero(opt_int(mem, "limit", F, minimum=-1))
    swap = unset_if_zero(opt_int(mem, "swap", F, minimum=-1))
    reservation = unset_if_zero(opt_int(mem, "reservation", F, minimum=-1))
    swappiness = opt_int(mem, "swappiness", F, minimum=0, maximum=100)
    for key in ("kernel", "kernelTCP"):
        if unset_if_zero(opt_int(mem, key, F, minimum=-1)) is not None:
            warn(f"{F}.{key}: ignored, cgroup v2 has no separate kernel memory limit")
    if opt_bool(mem, "disableOOMKiller", F):
        raise CgroupConfigError(f"{F}.disableOOMKiller: cgroup v2 cannot disable the OOM killer")
    if opt_bool(mem, "useHierarchy", F) is False:
        raise CgroupConfigError(f"{F}.useHierarchy: cgroup v2 is always hierarchical")
    if swappiness is not None:
        raise CgroupConfigError(f"{F}.swappiness: cgroup v2 has no per-cgroup swappiness")
    swap_text = swap_max(limit, swap)
    if swap_text is not None:
        if not fsio.exists(path, "memory.swap.max"):
            raise CgroupConfigError(f"{F}.swap: swap accounting is not enabled on this host (no memory.swap.max)")
        fsio.write(path, "memory.swap.max", swap_text, f"{F}.swap")
    if limit is not None:
        fsio.write(path, "memory.max", _limit(limit), f"{F}.limit")
    if reservation is not None:
        fsio.write(path, "memory.low", _limit(reservation), f"{F}.reservation")


def stats(path: str, out: dict[str, Any]) -> None:
    raw = fsio.read_keyed(path, "memory.stat")
    m = out["memory"]
    if raw.get("file"):
        m["cache"] = raw["file"]
    if raw:
        m["raw"] = raw

    def limit(name: str) -> int:
        v = fsio.read_int(path, name, 0)
        return UNLIMITED if v == -1 else v

    events = fsio.read_keyed(path, "memory.events")
    m["usage"] = memory_entry(
        limit("memory.max"), fsio.read_int(path, "memory.current", 0), fsio.read_int(path, "memory.peak", 0),
        events.get("max", 0),
    )
    if fsio.exists(path, "memory.swap.current"):
        m["swap"] = memory_entry(
            limit("memory.swap.max"), fsio.read_int(path, "memory.swap.current", 0),
            fsio.read_int(path, "memory.swap.peak", 0), fsio.read_keyed(path, "memory.swap.events").get("max", 0),
        )


def oom_kill_count(path: str) -> int:
    return fsio.read_keyed(path, "memory.events").get("oom_kill", 0)
