"""Per-device entries of linux.resources (blockIO, io): ``{"major": 8, "minor": 0, ...}`` validated."""

from __future__ import annotations

from ketch.runtime.cgroups.errors import CgroupConfigError
from ketch.runtime.cgroups.fields import opt_int

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["device_entries", "parse_device_stat"]


def device_entries(items: list[Any], field: str, value_key: str) -> list[tuple[int, int, int | None]]:
    """(major, minor, value) for each entry; ``value`` is None when that entry does not set it."""
    out = []
    for i, item in enumerate(items):
        f = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise CgroupConfigError(f"{f}: expected an object, got {item!r}")
        major = opt_int(item, "major", f, minimum=0)
        minor = opt_int(item, "minor", f, minimum=0)
        if major is None or minor is None:
            raise CgroupConfigError(f"{f}: major and minor are required")
        out.append((major, minor, opt_int(item, value_key, f, minimum=0)))
    return out


def parse_device_stat(text: str) -> list[tuple[int, int, str, int]]:
    """v1 blkio stat lines ``8:0 Read 4096`` (the ``Total`` summary line skipped)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, _, minor = parts[0].partition(":")
            try:
                out.append((int(major), int(minor), parts[1], int(parts[2])))
            except ValueError:
                continue
        elif len(parts) == 2 and ":" in parts[0]:  # blkio.sectors_recursive / time_recursive: no op
            major, _, minor = parts[0].partition(":")
            try:
                out.append((int(major), int(minor), "", int(parts[1])))
            except ValueError:
                continue
    return out
