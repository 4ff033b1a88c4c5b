"""v2 io controller: linux.resources.blockIO -> io.weight / io.bfq.weight and io.max (config-linux.md "Block IO")."""

from __future__ import annotations

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.devnums import device_entries
from ketch.runtime.cgroups.errors import CgroupConfigError
from ketch.runtime.cgroups.fields import PREFIX, opt_dict, opt_int, opt_list, unset_if_zero
from ketch.runtime.cgroups.stats import blkio_entry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources, Warn

CONTROLLER = "io"
F = f"{PREFIX}.blockIO"
THROTTLES = (
    ("throttleReadBpsDevice", "rbps"),
    ("throttleWriteBpsDevice", "wbps"),
    ("throttleReadIOPSDevice", "riops"),
    ("throttleWriteIOPSDevice", "wiops"),
)


def wanted(res: Resources) -> bool:
    return any(v not in (None, 0, []) for v in opt_dict(res, "blockIO", PREFIX).values())


def blkio_to_io_weight(weight: int) -> int:
    """blkio weight [10, 1000] -> io.weight [1, 10000] (runc's linear conversion)."""
    return 1 + (weight - 10) * 9999 // 990


def apply(path: str, res: Resources, warn: Warn) -> None:
    bio = opt_dict(res, "blockIO", PREFIX)
    weight = unset_if_zero(opt_int(bio, "weight", F, minimum=0, maximum=1000))
    if weight is not None and weight < 10:
        raise CgroupConfigError(f"{F}.weight: {weight} is below the minimum 10")
    if unset_if_zero(opt_int(bio, "leafWeight", F)) is not None:
        raise CgroupConfigError(f"{F}.leafWeight: cgroup v2 has no leaf weight")
    weights = device_entries(opt_list(bio, "weightDevice", F), f"{F}.weightDevice", "weight")
    bfq = fsio.exists(path, "io.bfq.weight")
    if weight is not None:
        # BFQ takes the blkio scale as is; io.weight (the cost model) has its own scale
        if bfq:
            fsio.write(path, "io.bfq.weight", weight, f"{F}.weight")
        else:
            fsio.write(path, "io.weight", f"default {blkio_to_io_weight(weight)}", f"{F}.weight")
    for i, (major, minor, w) in enumerate(weights):
        if w:
            if bfq:
                fsio.write(path, "io.bfq.weight", f"{major}:{minor} {w}", f"{F}.weightDevice[{i}]")
            else:
                line = f"{major}:{minor} {blkio_to_io_weight(w)}"
                fsio.write(path, "io.weight", line, f"{F}.weightDevice[{i}]")
    for key, name in THROTTLES:
        for i, (major, minor, rate) in enumerate(device_entries(opt_list(bio, key, F), f"{F}.{key}", "rate")):
            if rate is None:
                raise CgroupConfigError(f"{F}.{key}[{i}].rate: required")
            fsio.write(path, "io.max", f"{major}:{minor} {name}={rate or 'max'}", f"{F}.{key}[{i}]")


def parse_io_stat(text: str) -> dict[tuple[int, int], dict[str, int]]:
    """io.stat: ``8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`` per device."""
    out: dict[tuple[int, int], dict[str, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        kv = {}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            if v.isdigit():
                kv[k] = int(v)
        out[(int(major), int(minor))] = kv
    return out


def stats(path: str, out: dict[str, Any]) -> None:
    if not fsio.exists(path, "io.stat"):
        return
    parsed = parse_io_stat(fsio.read_text(path, "io.stat"))
    nbytes, nios = [], []
    for (major, minor), kv in sorted(parsed.items()):
        for op, b, n in (("Read", "rbytes", "rios"), ("Write", "wbytes", "wios")):
            nbytes.append(blkio_entry(major, minor, op, kv.get(b, 0)))
            nios.append(blkio_entry(major, minor, op, kv.get(n, 0)))
    if nbytes:
        out["blkio"]["ioServiceBytesRecursive"] = nbytes
        out["blkio"]["ioServicedRecursive"] = nios
