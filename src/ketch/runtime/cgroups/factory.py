"""new_manager: pick the v1 or v2 manager for this host and place the container's cgroup in it."""

from __future__ import annotations

from ketch.runtime.cgroups import detect
from ketch.runtime.cgroups.errors import CgroupError
from ketch.runtime.cgroups.paths import check_systemd, clean_inner, place

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.base import Manager

__all__ = ["detect_mode", "new_manager", "new_manager_from_state"]


def detect_mode(root: str = "/sys/fs/cgroup", mountinfo: str | None = None) -> str:
    """"v1", "hybrid" or "v2", decided as runc decides (see detect.py); ``mountinfo``: text already read."""
    return detect.detect_mode(root, mountinfo)


def new_manager(
    cgroups_path: str | None,
    container_id: str,
    *,
    root: str = "/sys/fs/cgroup",
    systemd: bool = False,
    mountinfo: str | None = None,
    self_cgroup: str | None = None,
) -> Manager:
    """The manager for the container's cgroup (nothing is created until ``create()``).

    ``cgroups_path``: runtime-spec linux.cgroupsPath; absolute = from each hierarchy's root, relative = under
    the runtime's own cgroup, None = the container id, relative (as runc). ``mountinfo``/``self_cgroup``
    replace /proc/self/mountinfo and /proc/self/cgroup (tests).
    """
    if systemd:
        check_systemd(cgroups_path)
    inner = clean_inner(cgroups_path, container_id)
    if mountinfo is None:
        mountinfo = detect._read(detect.MOUNTINFO)
    mode = detect.detect_mode(root, mountinfo)
    own = detect.own_cgroups(self_cgroup)
    if mode == "v2":
        mount = detect.unified_mount(root, mountinfo)
        assert mount is not None
        from ketch.runtime.cgroups.v2.manager import V2Manager

        return V2Manager({"": place(inner, mount, own.get(""))}, mountpoints={"": mount.mountpoint})
    hierarchies = detect.v1_hierarchies(root, mountinfo)
    if not hierarchies:
        raise CgroupError(f"no cgroup v1 controller is mounted under {root}")
    from ketch.runtime.cgroups.v1.manager import V1Manager

    paths = {c: place(inner, m, own.get(c)) for c, m in hierarchies.items()}
    mountpoints = {c: m.mountpoint for c, m in hierarchies.items()}
    if mode == "hybrid":
        # runc also puts the container into the (controller-less) unified tree, under the key ""
        unified = detect.unified_mount(root, mountinfo)
        if unified is not None:
            paths[""] = place(inner, unified, own.get(""))
            mountpoints[""] = unified.mountpoint
    mgr = V1Manager(paths, mountpoints=mountpoints)
    mgr.mode = mode  # "v1" or "hybrid": the controllers are v1 either way
    return mgr


def new_manager_from_state(state: dict[str, Any]) -> Manager:
    """Rebuild a manager from ``to_state()``, without looking at the host again."""
    try:
        mode, paths, created = state["mode"], state["paths"], state.get("created", [])
        mountpoints = state.get("mountpoints", {})
    except (KeyError, TypeError):
        raise CgroupError(f"not a cgroup manager state: {state!r}") from None
    if not isinstance(paths, dict) or not all(isinstance(v, str) for v in paths.values()):
        raise CgroupError(f"cgroup manager state has bad paths: {paths!r}")
    if mode == "v2":
        from ketch.runtime.cgroups.v2.manager import V2Manager

        return V2Manager(paths, created, mountpoints)
    if mode in ("v1", "hybrid"):
        from ketch.runtime.cgroups.v1.manager import V1Manager

        mgr = V1Manager(paths, created, mountpoints)
        mgr.mode = mode
        return mgr
    raise CgroupError(f"cgroup manager state has unknown mode {mode!r}")
