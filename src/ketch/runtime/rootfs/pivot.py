"""Switching the process's root to the container's rootfs: pivot_root(2), or MS_MOVE + chroot."""

from __future__ import annotations

import os

from ketch.linux import mount as m

__all__ = ["move_root", "pivot_root"]


def pivot_root(rootfs: str) -> None:
    """Make ``rootfs`` the root and detach the old one entirely.

    pivot_root(".", ".") stacks the old root on top of the new one at "/"; unmounting "." then removes it,
    with no directory needed inside the rootfs (the way runc does it). The old root is made a slave first so
    the unmount does not propagate to the host.
    """
    oldroot = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    newroot = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fchdir(newroot)
        m.pivot_root(".", ".")
        os.fchdir(oldroot)
        m.mount(None, ".", None, m.MS_SLAVE | m.MS_REC)
        m.umount2(".", m.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(oldroot)
        os.close(newroot)


def move_root(rootfs: str) -> None:
    """``--no-pivot``: move the rootfs mount over / and chroot into it (for ramfs roots, where pivot fails)."""
    os.chdir(rootfs)
    m.mount(rootfs, "/", None, m.MS_MOVE)
    os.chroot(".")
    os.chdir("/")
