"""linux.resources.rdma as ``rdma.max`` lines (the same format in v1 and v2, Documentation/cgroup-v2)."""

from __future__ import annotations

from ketch.runtime.cgroups.errors import CgroupConfigError
from ketch.runtime.cgroups.fields import PREFIX, opt_dict, opt_int

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ketch.runtime.cgroups.fields import Resources

__all__ = ["F", "rdma_lines"]

F = f"{PREFIX}.rdma"


def rdma_lines(res: Resources) -> list[tuple[str, str]]:
    """(device, ``mlx5_1 hca_handle=3 hca_object=10000``) for each device; only the limits set are written."""
    out = []
    for device, limits in opt_dict(res, "rdma", PREFIX).items():
        if not device or any(c.isspace() for c in device) or "=" in device:
            raise CgroupConfigError(f"{F}: {device!r} is not an RDMA device name")
        if not isinstance(limits, dict):
            raise CgroupConfigError(f"{F}.{device}: expected an object, got {limits!r}")
        handles = opt_int(limits, "hcaHandles", f"{F}.{device}", minimum=0)
        objects = opt_int(limits, "hcaObjects", f"{F}.{device}", minimum=0)
        parts = [device]
        if handles is not None:
            parts.append(f"hca_handle={handles}")
        if objects is not None:
            parts.append(f"hca_object={objects}")
        if len(parts) > 1:
            out.append((device, " ".join(parts)))
    return out
