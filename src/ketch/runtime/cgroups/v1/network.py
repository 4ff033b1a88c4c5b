"""v1 net_cls and net_prio controllers: linux.resources.network (config-linux.md "Network")."""

from __future__ import annotations

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.errors import CgroupConfigError
from ketch.runtime.cgroups.fields import PREFIX, opt_dict, opt_int, opt_list, opt_str

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ketch.runtime.cgroups.fields import Resources

F = f"{PREFIX}.network"


def wants_class(res: Resources) -> bool:
    return opt_dict(res, "network", PREFIX).get("classID") is not None


def wants_priorities(res: Resources) -> bool:
    return bool(opt_dict(res, "network", PREFIX).get("priorities"))


def apply_class(path: str, res: Resources) -> None:
    class_id = opt_int(opt_dict(res, "network", PREFIX), "classID", F, minimum=0, maximum=0xFFFFFFFF)
    if class_id is not None:
        fsio.write(path, "net_cls.classid", class_id, f"{F}.classID")


def apply_priorities(path: str, res: Resources) -> None:
    for i, item in enumerate(opt_list(opt_dict(res, "network", PREFIX), "priorities", F)):
        f = f"{F}.priorities[{i}]"
        if not isinstance(item, dict):
            raise CgroupConfigError(f"{f}: expected an object, got {item!r}")
        name = opt_str(item, "name", f)
        prio = opt_int(item, "priority", f, minimum=0, maximum=0xFFFFFFFF)
        if not name or prio is None or any(c.isspace() for c in name):
            raise CgroupConfigError(f"{f}: a name (an interface) and a priority are required")
        fsio.write(path, "net_prio.ifpriomap", f"{name} {prio}", f)
