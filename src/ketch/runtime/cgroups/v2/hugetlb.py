"""v2 hugetlb controller: linux.resources.hugepageLimits -> hugetlb.<size>.max (and .rsvd.max)."""

from __future__ import annotations

import os

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.fields import PREFIX, opt_list
from ketch.runtime.cgroups.hugepages import F, limits, unknown_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources, Warn

CONTROLLER = "hugetlb"


def wanted(res: Resources) -> bool:
    return bool(opt_list(res, "hugepageLimits", PREFIX))


def apply(path: str, res: Resources, warn: Warn) -> None:
    for i, (size, limit) in enumerate(limits(res)):
        name = f"hugetlb.{size}.max"
        if not fsio.exists(path, name):
            raise unknown_size(f"{F}[{i}]", size)
        fsio.write(path, name, limit, f"{F}[{i}].limit")
        rsvd = f"hugetlb.{size}.rsvd.max"
        if fsio.exists(path, rsvd):
            fsio.write(path, rsvd, limit, f"{F}[{i}].limit")


def stats(path: str, out: dict[str, Any]) -> None:
    for name in sorted(os.listdir(path)):
        if name.startswith("hugetlb.") and name.endswith(".current") and ".rsvd." not in name:
            size = name[len("hugetlb.") : -len(".current")]
            entry: dict[str, int] = {}
            usage = fsio.read_int(path, name, 0)
            if usage:
                entry["usage"] = usage
            limit = fsio.read_int(path, f"hugetlb.{size}.max", 0)
            if limit > 0:
                entry["max"] = limit
            entry["failcnt"] = fsio.read_keyed(path, f"hugetlb.{size}.events").get("max", 0)
            out["hugetlb"][size] = entry
