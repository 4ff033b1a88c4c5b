"""Namespaces: unshare(2), setns(2) and the clone flag of each namespace type."""

from __future__ import annotations

import ctypes

from ketch.linux._libc import check, libc

__all__ = ["CLONE_FLAGS", "setns", "unshare"]

CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# runtime-spec namespace type -> clone flag
CLONE_FLAGS = {
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
    "mount": CLONE_NEWNS,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "user": CLONE_NEWUSER,
    "cgroup": CLONE_NEWCGROUP,
    "time": CLONE_NEWTIME,
}

_unshare = libc.unshare
_unshare.argtypes = [ctypes.c_int]
_setns = libc.setns
_setns.argtypes = [ctypes.c_int, ctypes.c_int]


def unshare(flags: int) -> None:
    check(_unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0, path: str | None = None) -> None:
    check(_setns(fd, nstype), "setns", path)
