"""Huge page sizes as the hugetlb controller names them in its files (``2MB``, ``1GB``)."""

from __future__ import annotations

import os

from ketch.runtime.cgroups.errors import CgroupConfigError
from ketch.runtime.cgroups.fields import PREFIX, opt_int, opt_list, opt_str

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ketch.runtime.cgroups.fields import Resources

__all__ = ["F", "host_sizes", "limits", "size_name", "unknown_size"]

F = f"{PREFIX}.hugepageLimits"
_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def size_name(nbytes: int) -> str:
    """2097152 -> ``2MB``: the kernel's (and runc's) name for a page size, in powers of 1024."""
    value, unit = float(nbytes), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    return f"{value:g}{_UNITS[unit]}"


def host_sizes(sysfs: str = "/sys/kernel/mm/hugepages") -> list[str]:
    """The huge page sizes this host supports (``hugepages-2048kB`` -> ``2MB``)."""
    try:
        names = os.listdir(sysfs)
    except OSError:
        return []
    out = []
    for n in names:
        if n.startswith("hugepages-") and n.endswith("kB") and n[10:-2].isdigit():
            out.append(size_name(int(n[10:-2]) * 1024))
    return sorted(out, key=lambda s: (_UNITS.index(s.lstrip("0123456789.")), float(s.rstrip("BKMGTP"))))


def limits(res: Resources) -> list[tuple[str, int]]:
    """(pageSize, limit) for each entry of linux.resources.hugepageLimits."""
    out = []
    for i, item in enumerate(opt_list(res, "hugepageLimits", PREFIX)):
        f = f"{F}[{i}]"
        if not isinstance(item, dict):
            raise CgroupConfigError(f"{f}: expected an object, got {item!r}")
        size = opt_str(item, "pageSize", f)
        limit = opt_int(item, "limit", f, minimum=0)
        if not size or limit is None:
            raise CgroupConfigError(f"{f}: pageSize and limit are required")
        if "/" in size or size.startswith("."):
            raise CgroupConfigError(f"{f}.pageSize: {size!r} is not a page size")
        out.append((size, limit))
    return out


def unknown_size(field: str, size: str) -> CgroupConfigError:
    have = ", ".join(host_sizes()) or "none"
    return CgroupConfigError(f"{field}.pageSize: {size!r} is not a huge page size of this host (it has: {have})")
