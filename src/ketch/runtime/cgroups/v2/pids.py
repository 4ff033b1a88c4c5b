"""v2 pids controller: linux.resources.pids.limit -> pids.max."""

from __future__ import annotations

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.fields import PREFIX, opt_dict
from ketch.runtime.cgroups.v1.pids import limit_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources, Warn

CONTROLLER = "pids"
F = f"{PREFIX}.pids"


def wanted(res: Resources) -> bool:
    return opt_dict(res, "pids", PREFIX).get("limit") not in (None, 0)


def apply(path: str, res: Resources, warn: Warn) -> None:
    value = limit_value(res)
    if value is not None:
        fsio.write(path, "pids.max", value, f"{F}.limit")


def stats(path: str, out: dict[str, Any]) -> None:
    current = fsio.read_int(path, "pids.current", 0)
    limit = fsio.read_int(path, "pids.max", 0)
    if current:
        out["pids"]["current"] = current
    if limit > 0:
        out["pids"]["limit"] = limit
