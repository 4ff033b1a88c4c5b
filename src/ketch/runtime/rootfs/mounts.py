"""The mounts of config.json, performed below the rootfs before pivot_root.

Options follow runtime-spec config.md "Mounts" and mount(8): flag words become MS_* flags, propagation words
are applied in a second mount(2) call, anything else is filesystem data (``mode=755``, ``size=64k``).
"""

from __future__ import annotations

import os

from ketch.linux import mount as m
from ketch.linux.fd import fd_path

# imported here, by the parent before it forks: the init may run as an unprivileged user of a new user
# namespace, which cannot read ketch's own files (a checkout in a 0700 directory), so it imports nothing
from ketch.runtime.cgroups.detect import detect_mode
from ketch.runtime.rootfs.paths import ensure_in_root, open_in_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["MountOptions", "mount_all", "parse_options", "remount_flags_of"]

# word -> (set?, flag)
_FLAGS: dict[str, tuple[bool, int]] = {
    "async": (False, m.MS_SYNCHRONOUS),
    "atime": (False, m.MS_NOATIME),
    "bind": (True, m.MS_BIND),
    "defaults": (True, 0),
    "dev": (False, m.MS_NODEV),
    "diratime": (False, m.MS_NODIRATIME),
    "dirsync": (True, m.MS_DIRSYNC),
    "exec": (False, m.MS_NOEXEC),
    "mand": (True, m.MS_MANDLOCK),
    "noatime": (True, m.MS_NOATIME),
    "nodev": (True, m.MS_NODEV),
    "nodiratime": (True, m.MS_NODIRATIME),
    "noexec": (True, m.MS_NOEXEC),
    "nomand": (False, m.MS_MANDLOCK),
    "norelatime": (False, m.MS_RELATIME),
    "nostrictatime": (False, m.MS_STRICTATIME),
    "nosuid": (True, m.MS_NOSUID),
    "nosymfollow": (True, m.MS_NOSYMFOLLOW),
    "rbind": (True, m.MS_BIND | m.MS_REC),
    "relatime": (True, m.MS_RELATIME),
    "remount": (True, m.MS_REMOUNT),
    "ro": (True, m.MS_RDONLY),
    "rw": (False, m.MS_RDONLY),
    "strictatime": (True, m.MS_STRICTATIME),
    "suid": (False, m.MS_NOSUID),
    "symfollow": (False, m.MS_NOSYMFOLLOW),
    "sync": (True, m.MS_SYNCHRONOUS),
}
PROPAGATION: dict[str, int] = {
    "private": m.MS_PRIVATE,
    "rprivate": m.MS_PRIVATE | m.MS_REC,
    "shared": m.MS_SHARED,
    "rshared": m.MS_SHARED | m.MS_REC,
    "slave": m.MS_SLAVE,
    "rslave": m.MS_SLAVE | m.MS_REC,
    "unbindable": m.MS_UNBINDABLE,
    "runbindable": m.MS_UNBINDABLE | m.MS_REC,
}
# words runc accepts that are not mount(2) flags; accepted and handled (or ignored) here
_EXTENSIONS = frozenset({"tmpcopyup", "iversion", "noiversion"})


class MountOptions:
    __slots__ = ("data", "flags", "propagation", "tmpcopyup")

    def __init__(self) -> None:
        self.flags = 0
        self.propagation: list[int] = []
        self.data: list[str] = []
        self.tmpcopyup = False


def parse_options(options: list[str]) -> MountOptions:
    out = MountOptions()
    for word in options:
        flag = _FLAGS.get(word)
        if flag is not None:
            if flag[0]:
                out.flags |= flag[1]
            else:
                out.flags &= ~flag[1]
        elif word in PROPAGATION:
            out.propagation.append(PROPAGATION[word])
        elif word == "tmpcopyup":
            out.tmpcopyup = True
        elif word in _EXTENSIONS:
            continue
        else:
            out.data.append(word)
    return out


# statvfs f_flag bits -> MS_* flags that are locked on a bind mount made in a user namespace
_ST_RDONLY, _ST_NOSUID, _ST_NODEV, _ST_NOEXEC = 1, 2, 4, 8
_ST_NOATIME, _ST_NODIRATIME, _ST_RELATIME = 1024, 2048, 4096


def remount_flags_of(path: str) -> int:
    """The MS_* flags a bind remount of ``path`` must keep (the kernel refuses to clear locked ones)."""
    f = os.statvfs(path).f_flag
    flags = 0
    for st, ms in (
        (_ST_NOSUID, m.MS_NOSUID),
        (_ST_NODEV, m.MS_NODEV),
        (_ST_NOEXEC, m.MS_NOEXEC),
        (_ST_NOATIME, m.MS_NOATIME),
        (_ST_NODIRATIME, m.MS_NODIRATIME),
        (_ST_RELATIME, m.MS_RELATIME),
    ):
        if f & st:
            flags |= ms
    return flags


class MountContext:
    """What mounting needs to know beyond the entry itself."""

    __slots__ = ("bundle", "cgroup_paths", "cgroupns", "rootfd", "rootfs", "userns")

    def __init__(
        self,
        rootfd: int,
        rootfs: str,
        bundle: str,
        *,
        userns: bool,
        cgroupns: bool,
        cgroup_paths: dict[str, str],
    ) -> None:
        self.rootfd = rootfd
        self.rootfs = rootfs
        self.bundle = bundle
        self.userns = userns
        self.cgroupns = cgroupns
        self.cgroup_paths = cgroup_paths


def mount_all(mounts: list[dict[str, Any]], ctx: MountContext) -> None:
    for i, entry in enumerate(mounts):
        try:
            _mount_one(entry, ctx)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename and not exc.filename.startswith("/proc/self/fd/") else ""
            raise OSError(
                exc.errno,
                f"mounts[{i}] ({entry.get('type', 'bind')} on {entry['destination']}): {exc.strerror}{where}",
            ) from exc


def _mount_one(entry: dict[str, Any], ctx: MountContext) -> None:
    dest = entry["destination"]
    kind = entry.get("type") or ""
    opts = parse_options(entry.get("options", []))
    source = entry.get("source") or ""
    is_bind = bool(opts.flags & m.MS_BIND) or kind == "bind"
    if kind == "cgroup" or kind == "cgroup2":
        _mount_cgroup(dest, kind, opts, ctx)
        return
    if is_bind:
        opts.flags |= m.MS_BIND
        if not os.path.isabs(source):
            # runtime-spec: a relative bind source is relative to the bundle
            source = os.path.join(ctx.bundle, source)
        is_dir = os.path.isdir(source)
        fd = ensure_in_root(ctx.rootfd, dest, is_dir=is_dir)
        try:
            m.mount(source, fd_path(fd), None, opts.flags & (m.MS_BIND | m.MS_REC))
        finally:
            os.close(fd)
        extra = opts.flags & ~(m.MS_BIND | m.MS_REC | m.MS_REMOUNT)
        if extra or opts.propagation:
            # an fd opened before the mount names the covered directory: reopen to reach the new mount
            fd = open_in_root(ctx.rootfd, dest)
            try:
                target = fd_path(fd)
                if extra:
                    # a bind mount ignores other flags at creation: apply them with a remount, keeping the
                    # flags the kernel locks on the source
                    locked = remount_flags_of(target)
                    m.mount(None, target, None, m.MS_BIND | m.MS_REMOUNT | extra | locked)
                for prop in opts.propagation:
                    m.mount(None, target, None, prop)
            finally:
                os.close(fd)
        return
    fd = ensure_in_root(ctx.rootfd, dest, is_dir=True)
    # the directory under the mount stays reachable through an fd opened before mounting over it
    lowerfd = os.open(fd_path(fd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if opts.tmpcopyup else -1
    try:
        target = fd_path(fd)
        data = ",".join(opts.data) or None
        if kind == "sysfs" and ctx.userns:
            _mount_sysfs_in_userns(target, opts, data)
        elif kind == "mqueue":
            try:
                m.mount(source or "mqueue", target, kind, opts.flags, data)
            except PermissionError:
                # without an owned ipc namespace mqueue cannot be mounted: bind the host's instead
                m.mount("/dev/mqueue", target, None, m.MS_BIND | m.MS_REC)
        else:
            m.mount(source or kind, target, kind, opts.flags, data)
    finally:
        os.close(fd)
    try:
        if (lowerfd >= 0 and kind == "tmpfs") or opts.propagation:
            fd = open_in_root(ctx.rootfd, dest)
            try:
                if lowerfd >= 0:
                    _copy_up(lowerfd, fd_path(fd))
                for prop in opts.propagation:
                    m.mount(None, fd_path(fd), None, prop)
            finally:
                os.close(fd)
    finally:
        if lowerfd >= 0:
            os.close(lowerfd)


def _mount_sysfs_in_userns(target: str, opts: MountOptions, data: str | None) -> None:
    try:
        m.mount("sysfs", target, "sysfs", opts.flags, data)
    except PermissionError:
        # sysfs needs a network namespace owned by the user namespace; fall back to the host's /sys, bound
        m.mount("/sys", target, None, m.MS_BIND | m.MS_REC)
        if opts.flags & m.MS_RDONLY:
            m.mount(None, target, None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | remount_flags_of(target))


def _copy_up(lowerfd: int, target: str) -> None:
    """tmpcopyup: the new tmpfs starts with what the image had at that path (still open on ``lowerfd``)."""
    import shutil

    shutil.copytree(fd_path(lowerfd), target, symlinks=True, dirs_exist_ok=True)


def _mount_cgroup(dest: str, kind: str, opts: MountOptions, ctx: MountContext) -> None:
    """/sys/fs/cgroup inside the container: the container's own cgroups, read-only unless asked otherwise.

    cgroup v2 (only a unified hierarchy): a cgroup2 mount, which shows the cgroup namespace's root; without a
    cgroup namespace, the container's cgroup directory bound instead. v1 and hybrid: a tmpfs with one entry
    per mounted hierarchy, each a cgroup mount (with a cgroup namespace) or a bind of the container's
    directory in that hierarchy (without).
    """
    flags = opts.flags & ~m.MS_RDONLY
    ro = bool(opts.flags & m.MS_RDONLY)
    with open("/proc/self/mountinfo") as f:
        mountinfo = f.read()  # read once: the mode and the v1 hierarchies both come from it
    mode = detect_mode(mountinfo=mountinfo)
    fd = ensure_in_root(ctx.rootfd, dest, is_dir=True)
    try:
        target = fd_path(fd)
        if mode == "v2" or kind == "cgroup2":
            path = ctx.cgroup_paths.get("") or next(iter(ctx.cgroup_paths.values()), "")
            try:
                m.mount("cgroup2", target, "cgroup2", opts.flags)
            except OSError:
                if not path:
                    raise
                m.mount(path, target, None, m.MS_BIND | m.MS_REC)
                if ro:
                    bound = open_in_root(ctx.rootfd, dest)
                    try:
                        where = fd_path(bound)
                        m.mount(None, where, None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | remount_flags_of(where))
                    finally:
                        os.close(bound)
            return
        m.mount("tmpfs", target, "tmpfs", flags, "mode=755")
        os.close(fd)
        fd = open_in_root(ctx.rootfd, dest)  # now the tmpfs itself, not the directory it covers
        target = fd_path(fd)
        for name, subsystems, host_dir in _v1_hierarchies(ctx.cgroup_paths, mountinfo):
            sub = ensure_in_root(ctx.rootfd, f"{dest}/{name}", is_dir=True)
            try:
                where = fd_path(sub)
                if ctx.cgroupns and subsystems is not None:
                    try:
                        m.mount("cgroup", where, "cgroup", opts.flags, subsystems)
                    except OSError as exc:
                        raise OSError(exc.errno, f"{exc.strerror} (cgroup -o {subsystems})") from exc
                else:
                    m.mount(host_dir, where, None, m.MS_BIND | m.MS_REC)
                    if ro:
                        os.close(sub)
                        sub = open_in_root(ctx.rootfd, f"{dest}/{name}")
                        where = fd_path(sub)
                        m.mount(None, where, None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | remount_flags_of(where))
            finally:
                os.close(sub)
            # comounted hierarchies ("cpu,cpuacct") are also reachable by each name, as on the host
            if "," in name:
                for alias in name.split(","):
                    try:
                        os.symlink(name, f"{target}/{alias}")
                    except FileExistsError:
                        pass
        if ro:
            m.mount(None, target, None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | flags)
    finally:
        os.close(fd)


def _v1_hierarchies(cgroup_paths: dict[str, str], mountinfo: str) -> list[tuple[str, str | None, str]]:
    """(name under /sys/fs/cgroup, mount data for a cgroup mount, the container's host directory)."""
    out: list[tuple[str, str | None, str]] = []
    seen: set[str] = set()
    for line in mountinfo.splitlines():
        pre, _, post = line.partition(" - ")
        fstype, _src, superopts = ([*post.split(" "), "", "", ""])[:3]
        if fstype != "cgroup":
            continue
        mountpoint = pre.split(" ")[4]
        name = os.path.basename(mountpoint)
        if name in seen:
            continue
        seen.add(name)
        opts = superopts.split(",")
        subsystems = [o for o in opts if o not in ("rw", "ro") and not o.startswith("release_agent")]
        data = ",".join(subsystems)
        host_dir = ""
        for controller, path in cgroup_paths.items():
            if path.startswith(mountpoint + "/") or path == mountpoint or controller in subsystems:
                host_dir = path
                break
        if not host_dir:
            continue
        out.append((name, data, host_dir))
    return out
