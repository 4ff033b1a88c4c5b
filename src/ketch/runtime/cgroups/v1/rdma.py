"""v1 rdma controller: linux.resources.rdma -> rdma.max (config-linux.md "RDMA")."""

from __future__ import annotations

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.fields import PREFIX, opt_dict
from ketch.runtime.cgroups.rdmalimits import F, rdma_lines

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ketch.runtime.cgroups.fields import Resources, Warn

HIERARCHY = "rdma"


def wanted(res: Resources) -> bool:
    return bool(opt_dict(res, "rdma", PREFIX))


def apply(path: str, res: Resources, warn: Warn) -> None:
    for device, line in rdma_lines(res):
        fsio.write(path, "rdma.max", line, f"{F}.{device}")
