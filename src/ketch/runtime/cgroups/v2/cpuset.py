"""v2 cpuset controller: linux.resources.cpu.cpus / .mems -> cpuset.cpus / cpuset.mems."""

from __future__ import annotations

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.fields import PREFIX
from ketch.runtime.cgroups.stats import parse_cpu_list

# cpuset.cpus and cpuset.mems are written the same way in both hierarchies
from ketch.runtime.cgroups.v1.cpuset import apply as apply
from ketch.runtime.cgroups.v1.cpuset import wanted as wanted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


CONTROLLER = "cpuset"
F = f"{PREFIX}.cpu"


def stats(path: str, out: dict[str, Any]) -> None:
    for key, name in (("cpus", "cpuset.cpus.effective"), ("mems", "cpuset.mems.effective")):
        if fsio.exists(path, name):
            values = parse_cpu_list(fsio.read_text(path, name))
            if values:
                out["cpuset"][key] = values
