"""v1 blkio controller: linux.resources.blockIO (config-linux.md "Block IO")."""

from __future__ import annotations

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.devnums import device_entries, parse_device_stat
from ketch.runtime.cgroups.errors import CgroupConfigError
from ketch.runtime.cgroups.fields import PREFIX, opt_dict, opt_int, opt_list, unset_if_zero
from ketch.runtime.cgroups.stats import blkio_entry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources, Warn

HIERARCHY = "blkio"
F = f"{PREFIX}.blockIO"
THROTTLES = (
    ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
    ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
    ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
    ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
)


def wanted(res: Resources) -> bool:
    return any(v not in (None, 0, []) for v in opt_dict(res, "blockIO", PREFIX).values())


def _weight_files(path: str) -> tuple[str, str] | None:
    # CFQ's blkio.weight went away with the legacy block layer; BFQ offers blkio.bfq.weight instead.
    if fsio.exists(path, "blkio.weight"):
        return "blkio.weight", "blkio.weight_device"
    if fsio.exists(path, "blkio.bfq.weight"):
        return "blkio.bfq.weight", "blkio.bfq.weight_device"
    return None


def _weight(bio: dict[str, Any], key: str) -> int | None:
    """A blkio weight: 10..1000, or 0 for unset."""
    value = unset_if_zero(opt_int(bio, key, F, maximum=1000))
    if value is not None and value < 10:
        raise CgroupConfigError(f"{F}.{key}: {value} is below the minimum 10")
    return value


def apply(path: str, res: Resources, warn: Warn) -> None:
    bio = opt_dict(res, "blockIO", PREFIX)
    weight = _weight(bio, "weight")
    leaf = _weight(bio, "leafWeight")
    devices = opt_list(bio, "weightDevice", F)
    weights = device_entries(devices, f"{F}.weightDevice", "weight")
    leaves = device_entries(devices, f"{F}.weightDevice", "leafWeight")
    files = _weight_files(path)
    if (weight is not None or any(w for _, _, w in weights)) and files is None:
        what = f"{F}.weight" if weight is not None else f"{F}.weightDevice"
        raise CgroupConfigError(
            f"{what}: this host has no blkio.weight or blkio.bfq.weight (no proportional I/O scheduler)"
        )
    if weight is not None:
        assert files is not None
        fsio.write(path, files[0], weight, f"{F}.weight")
    if leaf is not None:
        fsio.write(path, "blkio.leaf_weight", leaf, f"{F}.leafWeight")
    for i, (major, minor, w) in enumerate(weights):
        if w:
            assert files is not None
            fsio.write(path, files[1], f"{major}:{minor} {w}", f"{F}.weightDevice[{i}].weight")
    for i, (major, minor, lw) in enumerate(leaves):
        if lw:
            fsio.write(path, "blkio.leaf_weight_device", f"{major}:{minor} {lw}", f"{F}.weightDevice[{i}].leafWeight")
    for key, name in THROTTLES:
        for i, (major, minor, rate) in enumerate(device_entries(opt_list(bio, key, F), f"{F}.{key}", "rate")):
            if rate is None:
                raise CgroupConfigError(f"{F}.{key}[{i}].rate: required")
            fsio.write(path, name, f"{major}:{minor} {rate}", f"{F}.{key}[{i}]")


# stats key -> file suffix; the first family whose files exist wins (CFQ, then BFQ, then throttling only)
_STAT_KEYS = (
    ("ioServiceBytesRecursive", "io_service_bytes_recursive"),
    ("ioServicedRecursive", "io_serviced_recursive"),
    ("ioQueueRecursive", "io_queued_recursive"),
    ("ioServiceTimeRecursive", "io_service_time_recursive"),
    ("ioWaitTimeRecursive", "io_wait_time_recursive"),
    ("ioMergedRecursive", "io_merged_recursive"),
    ("ioTimeRecursive", "time_recursive"),
    ("sectorsRecursive", "sectors_recursive"),
)


def stats(path: str, out: dict[str, Any]) -> None:
    for prefix in ("blkio.", "blkio.bfq.", "blkio.throttle."):
        if fsio.exists(path, prefix + "io_serviced_recursive"):
            break
    else:
        return
    b = out["blkio"]
    for key, suffix in _STAT_KEYS:
        if not fsio.exists(path, prefix + suffix):
            continue
        entries = [blkio_entry(*e) for e in parse_device_stat(fsio.read_text(path, prefix + suffix))]
        if entries:
            b[key] = entries
