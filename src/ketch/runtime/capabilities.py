"""Setting the five capability sets of the container process (runtime-spec config.md "capabilities")."""

from __future__ import annotations

from ketch.linux import caps as c
from ketch.linux import prctl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["apply_bounding", "apply_sets", "mask_of"]


def mask_of(names: list[str]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << c.CAPS[name]
    return mask


def apply_bounding(capabilities: dict[str, Any]) -> None:
    """Drop every capability not in ``bounding`` from the bounding set. Needs CAP_SETPCAP: call it before
    changing user."""
    keep = mask_of(capabilities.get("bounding", []))
    for cap in range(c.last_cap() + 1):
        if not keep & (1 << cap):
            prctl.drop_bounding_cap(cap)


def apply_sets(capabilities: dict[str, Any]) -> None:
    """Set effective, permitted and inheritable, then raise the ambient ones (which must be in both permitted
    and inheritable, capabilities(7))."""
    sets = c.CapSets(
        mask_of(capabilities.get("effective", [])),
        mask_of(capabilities.get("permitted", [])),
        mask_of(capabilities.get("inheritable", [])),
    )
    c.capset(sets)
    prctl.clear_ambient()
    for name in capabilities.get("ambient", []):
        bit = 1 << c.CAPS[name]
        if sets.permitted & bit and sets.inheritable & bit:
            prctl.set_ambient_cap(c.CAPS[name])
