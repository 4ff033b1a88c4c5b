"""The cgroup side of the runtime (runtime-spec config-linux.md "Control groups" and "cgroupsPath").

    mgr = new_manager(cgroups_path, container_id)   # detects v1 / hybrid / v2 and where things are mounted
    mgr.create(); mgr.apply(resources); mgr.add_pid(pid)
    ... mgr.freeze() / thaw() / update(resources) / stats() / pids() / kill_all(sig) ...
    mgr.destroy()
    state = mgr.to_state(); new_manager_from_state(state)    # later invocations, without re-detecting

Importing this package is cheap: controller modules are imported only when their resources are used.
"""

from __future__ import annotations

from ketch.runtime.cgroups.errors import CgroupBusyError, CgroupConfigError, CgroupDriverError, CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.factory import detect_mode, new_manager, new_manager_from_state

_FACTORY = ("detect_mode", "new_manager", "new_manager_from_state")


def __getattr__(name: str) -> Any:
    # the managers load on first use: ``state`` and ``list`` only peek (see peek.py) and never need them
    if name in _FACTORY:
        from ketch.runtime.cgroups import factory

        return getattr(factory, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "CgroupBusyError",
    "CgroupConfigError",
    "CgroupDriverError",
    "CgroupError",
    "detect_mode",
    "new_manager",
    "new_manager_from_state",
]
