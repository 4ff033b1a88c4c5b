"""v1 cpuacct controller: usage statistics only (it has no resources to set)."""

from __future__ import annotations

import os

from ketch.runtime.cgroups import fsio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HIERARCHY = "cpuacct"


def _percpu(path: str, name: str) -> list[int]:
    if not fsio.exists(path, name):
        return []
    return [int(x) for x in fsio.read_text(path, name).split()]


def stats(path: str, out: dict[str, Any]) -> None:
    usage = out["cpu"]["usage"]
    total = fsio.read_int(path, "cpuacct.usage", 0)
    if total:
        usage["total"] = total
    for key, name in (
        ("percpu", "cpuacct.usage_percpu"),
        ("percpu_kernel", "cpuacct.usage_percpu_sys"),
        ("percpu_user", "cpuacct.usage_percpu_user"),
    ):
        values = _percpu(path, name)
        if values:
            usage[key] = values
    # cpuacct.stat is in USER_HZ ticks; runc reports nanoseconds
    ticks = fsio.read_keyed(path, "cpuacct.stat")
    ns_per_tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    usage["user"] = ticks.get("user", 0) * ns_per_tick
    usage["kernel"] = ticks.get("system", 0) * ns_per_tick
