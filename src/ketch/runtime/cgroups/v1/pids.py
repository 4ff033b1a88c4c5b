"""v1 pids controller: linux.resources.pids.limit -> pids.max (config-linux.md "pids")."""

from __future__ import annotations

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.fields import PREFIX, opt_dict, opt_int

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources, Warn

HIERARCHY = "pids"
F = f"{PREFIX}.pids"


def wanted(res: Resources) -> bool:
    return opt_dict(res, "pids", PREFIX).get("limit") not in (None, 0)


def limit_value(res: Resources) -> str | None:
    """The pids.max text: a positive limit, ``max`` for a negative one; 0 means unset (as runc)."""
    limit = opt_int(opt_dict(res, "pids", PREFIX), "limit", F)
    if limit is None or limit == 0:
        return None
    return str(limit) if limit > 0 else "max"


def apply(path: str, res: Resources, warn: Warn) -> None:
    value = limit_value(res)
    if value is not None:
        fsio.write(path, "pids.max", value, f"{F}.limit")


def stats(path: str, out: dict[str, Any]) -> None:
    current = fsio.read_int(path, "pids.current", 0)
    limit = fsio.read_int(path, "pids.max", 0)
    p = out["pids"]
    if current:
        p["current"] = current
    if limit > 0:  # "max" reads as -1: runc reports no limit as 0 (omitted)
        p["limit"] = limit
