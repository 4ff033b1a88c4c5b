"""Device nodes in the container's /dev, and the /dev symlinks every Linux program expects.

runtime-spec config-linux.md "Default Devices": null, zero, full, random, urandom, tty (and console when a
terminal is requested, which the console code binds). In a user namespace mknod is not allowed, so the
host's node is bind-mounted onto an empty file instead, as runc does.
"""

from __future__ import annotations

import os
import stat

from ketch.linux import mount as m
from ketch.linux.fd import fd_path
from ketch.runtime.rootfs.paths import ensure_in_root, open_in_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DEFAULT_DEVICES", "create_dev_symlinks", "create_devices"]

DEFAULT_DEVICES: list[dict[str, Any]] = [
    {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666, "uid": 0, "gid": 0},
    {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o666, "uid": 0, "gid": 0},
    {"path": "/dev/full", "type": "c", "major": 1, "minor": 7, "fileMode": 0o666, "uid": 0, "gid": 0},
    {"path": "/dev/random", "type": "c", "major": 1, "minor": 8, "fileMode": 0o666, "uid": 0, "gid": 0},
    {"path": "/dev/urandom", "type": "c", "major": 1, "minor": 9, "fileMode": 0o666, "uid": 0, "gid": 0},
    {"path": "/dev/tty", "type": "c", "major": 5, "minor": 0, "fileMode": 0o666, "uid": 0, "gid": 0},
]

_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def create_devices(rootfd: int, devices: list[dict[str, Any]], *, userns: bool) -> None:
    for i, dev in enumerate(devices):
        try:
            _create_one(rootfd, dev, userns)
        except OSError as exc:
            raise OSError(exc.errno, f"linux.devices[{i}] ({dev['path']}): {exc.strerror}") from exc


def _create_one(rootfd: int, dev: dict[str, Any], userns: bool) -> None:
    path = dev["path"]
    parent, name = os.path.split(path.rstrip("/"))
    pfd = ensure_in_root(rootfd, parent, is_dir=True)
    try:
        kind = dev["type"]
        if userns and kind != "p":
            ffd = ensure_in_root(rootfd, path, is_dir=False)
            try:
                m.mount(path, fd_path(ffd), None, m.MS_BIND)
            finally:
                os.close(ffd)
            return
        mode = dev.get("fileMode", 0o666) & 0o7777
        rdev = 0 if kind == "p" else os.makedev(dev["major"], dev["minor"])
        try:
            os.unlink(name, dir_fd=pfd)
        except FileNotFoundError:
            pass
        os.mknod(name, _TYPES[kind] | mode, rdev, dir_fd=pfd)
        # mknod applies the umask; chmod through an fd of the new node so the mode is exactly as asked
        nfd = open_in_root(rootfd, path)
        try:
            os.chmod(fd_path(nfd), mode)
            os.chown(fd_path(nfd), dev.get("uid", 0), dev.get("gid", 0))
        finally:
            os.close(nfd)
    finally:
        os.close(pfd)


def create_dev_symlinks(rootfd: int) -> None:
    links = [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ]
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "core"))
    dfd = ensure_in_root(rootfd, "/dev", is_dir=True)
    try:
        for target, name in links:
            if name == "ptmx":
                try:
                    os.unlink(name, dir_fd=dfd)
                except FileNotFoundError:
                    pass
            try:
                os.symlink(target, name, dir_fd=dfd)
            except FileExistsError:
                pass
    finally:
        os.close(dfd)
