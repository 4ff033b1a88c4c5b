"""v1 hugetlb controller: linux.resources.hugepageLimits -> hugetlb.<size>.limit_in_bytes."""

from __future__ import annotations

import os

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.fields import PREFIX, opt_list
from ketch.runtime.cgroups.hugepages import F, limits, unknown_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources, Warn

HIERARCHY = "hugetlb"


def wanted(res: Resources) -> bool:
    return bool(opt_list(res, "hugepageLimits", PREFIX))


def apply(path: str, res: Resources, warn: Warn) -> None:
    for i, (size, limit) in enumerate(limits(res)):
        name = f"hugetlb.{size}.limit_in_bytes"
        if not fsio.exists(path, name):
            raise unknown_size(f"{F}[{i}]", size)
        fsio.write(path, name, limit, f"{F}[{i}].limit")
        # reservations (kernel 5.7+) are limited alike, so a reserved-but-unfaulted page counts too
        rsvd = f"hugetlb.{size}.rsvd.limit_in_bytes"
        if fsio.exists(path, rsvd):
            fsio.write(path, rsvd, limit, f"{F}[{i}].limit")


def stats(path: str, out: dict[str, Any]) -> None:
    for name in sorted(os.listdir(path)):
        if name.startswith("hugetlb.") and name.endswith(".usage_in_bytes") and ".rsvd." not in name:
            size = name[len("hugetlb.") : -len(".usage_in_bytes")]
            entry = {
                "usage": fsio.read_int(path, name, 0),
                "max": fsio.read_int(path, f"hugetlb.{size}.max_usage_in_bytes", 0),
            }
            out["hugetlb"][size] = {k: v for k, v in entry.items() if v} | {
                "failcnt": fsio.read_int(path, f"hugetlb.{size}.failcnt", 0)
            }
