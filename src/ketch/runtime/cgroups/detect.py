"""Which cgroup layout this host has, where each v1 controller is mounted, and our own cgroup.

The mode is decided as runc does (libcontainer/cgroups/utils.go): the filesystem type of the mount that
holds ``root`` is cgroup2 -> "v2" (unified); else cgroup2 at ``root/unified`` -> "hybrid" (v1 controllers
plus an empty v2 tree); else "v1". The type comes from /proc/self/mountinfo: the mount containing the path
(the longest mount point that is a prefix of it), which is what statfs(2)'s f_type magic would report.
"""

from __future__ import annotations

import os

from ketch.runtime.cgroups.errors import CgroupError

__all__ = [
    "V1_CONTROLLERS",
    "Mount",
    "detect_mode",
    "mount_of",
    "own_cgroups",
    "parse_mountinfo",
    "v1_hierarchies",
]

MOUNTINFO = "/proc/self/mountinfo"
SELF_CGROUP = "/proc/self/cgroup"

# every v1 controller the kernel knows, plus the named systemd hierarchy that runc also joins
V1_CONTROLLERS = (
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
    "name=systemd",
)


class Mount:
    """One line of mountinfo (proc(5)): the fields the cgroup code needs."""

    __slots__ = ("fstype", "mountpoint", "root", "superopts")

    def __init__(self, root: str, mountpoint: str, fstype: str, superopts: str) -> None:
        self.root = root
        self.mountpoint = mountpoint
        self.fstype = fstype
        self.superopts = superopts

    def __repr__(self) -> str:
        return f"Mount({self.root!r}, {self.mountpoint!r}, {self.fstype!r}, {self.superopts!r})"


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        try:
            sep = parts.index("-", 6)
        except ValueError:
            continue
        if len(parts) < sep + 4:
            continue
        mounts.append(Mount(_unescape(parts[3]), _unescape(parts[4]), parts[sep + 1], parts[sep + 3]))
    return mounts


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError as exc:
        raise CgroupError(f"cannot read {path}: {exc.strerror}") from None


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def mount_of(path: str, mounts: list[Mount]) -> Mount | None:
    """The mount holding ``path``: the last-mounted of the longest mount points that contain it."""
    path = os.path.normpath(path)
    best: Mount | None = None
    for m in mounts:
        if _under(path, m.mountpoint) and (best is None or len(m.mountpoint) >= len(best.mountpoint)):
            best = m
    return best


def detect_mode(root: str = "/sys/fs/cgroup", mountinfo: str | None = None) -> str:
    """"v1", "hybrid" or "v2" for the cgroup tree at ``root``; CgroupError when none is mounted there."""
    mounts = parse_mountinfo(_read(MOUNTINFO) if mountinfo is None else mountinfo)
    top = mount_of(root, mounts)
    if top is not None and top.fstype == "cgroup2":
        return "v2"
    unified = mount_of(os.path.join(root, "unified"), mounts)
    has_v1 = any(m.fstype == "cgroup" and _under(m.mountpoint, root) for m in mounts)
    if unified is not None and unified.fstype == "cgroup2" and unified is not top:
        return "hybrid"
    if has_v1:
        return "v1"
    raise CgroupError(f"no cgroup hierarchy is mounted at {root}")


def v1_hierarchies(root: str = "/sys/fs/cgroup", mountinfo: str | None = None) -> dict[str, Mount]:
    """controller -> the v1 mount that carries it, for mounts under ``root`` (comounts share one Mount)."""
    mounts = parse_mountinfo(_read(MOUNTINFO) if mountinfo is None else mountinfo)
    out: dict[str, Mount] = {}
    for m in mounts:
        if m.fstype != "cgroup" or not _under(m.mountpoint, root):
            continue
        for opt in m.superopts.split(","):
            if opt in V1_CONTROLLERS and opt not in out:
                out[opt] = m
    return out


def unified_mount(root: str = "/sys/fs/cgroup", mountinfo: str | None = None) -> Mount | None:
    """The cgroup2 mount at ``root`` (v2) or ``root/unified`` (hybrid), if any."""
    mounts = parse_mountinfo(_read(MOUNTINFO) if mountinfo is None else mountinfo)
    for where in (root, os.path.join(root, "unified")):
        m = mount_of(where, mounts)
        if m is not None and m.fstype == "cgroup2":
            return m
    return None


def own_cgroups(text: str | None = None) -> dict[str, str]:
    """Our cgroup per v1 controller (``cpu,cpuacct`` lines split) and ``""`` for the v2 tree (cgroups(7))."""
    out: dict[str, str] = {}
    for line in (_read(SELF_CGROUP) if text is None else text).splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            out[""] = path
            continue
        for c in controllers.split(","):
            out[c] = path
    return out
