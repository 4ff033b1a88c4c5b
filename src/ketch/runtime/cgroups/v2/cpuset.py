"""v2 cpuset controller: linux.resources.cpu.cpus / .mems -> cpuset.cpus / cpuset.mems."""

from __future__ import annotations

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.fields import PREFIX, opt_dict, opt_str
from ketch.runtime.cgroups.stats import parse_cpu_list

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources, Warn

CONTROLLER = "cpuset"
F = f"{PREFIX}.cpu"


def wanted(res: Resources) -> bool:
    cpu = opt_dict(res, "cpu", PREFIX)
    return bool(cpu.get("cpus") or cpu.get("mems"))


def apply(path: str, res: Resources, warn: Warn) -> None:
    cpu = opt_dict(res, "cpu", PREFIX)
    cpus = opt_str(cpu, "cpus", F)
    mems = opt_str(cpu, "mems", F)
    if cpus:
        fsio.write(path, "cpuset.cpus", cpus, f"{F}.cpus")
    if mems:
        fsio.write(path, "cpuset.mems", mems, f"{F}.mems")


def stats(path: str, out: dict[str, Any]) -> None:
    for key, name in (("cpus", "cpuset.cpus.effective"), ("mems", "cpuset.mems.effective")):
        if fsio.exists(path, name):
            values = parse_cpu_list(fsio.read_text(path, name))
            if values:
                out["cpuset"][key] = values
