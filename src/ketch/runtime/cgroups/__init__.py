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
from ketch.runtime.cgroups.factory import detect_mode, new_manager, new_manager_from_state

__all__ = [
    "CgroupBusyError",
    "CgroupConfigError",
    "CgroupDriverError",
    "CgroupError",
    "detect_mode",
    "new_manager",
    "new_manager_from_state",
]
