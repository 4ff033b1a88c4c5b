"""mount(2)/umount2(2) for overlay and bind mounts of image snapshots."""

from __future__ import annotations

import ctypes
import os

from ketch.linux._libc import check, libc

__all__ = ["MNT_DETACH", "MS_BIND", "MS_RDONLY", "MS_REC", "mount", "umount"]

MS_RDONLY = 0x1
MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 0x2

_mount = libc.mount
_mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_mount.restype = ctypes.c_int
_umount2 = libc.umount2
_umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_umount2.restype = ctypes.c_int


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    check(
        _mount(
            os.fsencode(source),
            os.fsencode(target),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data is not None else None,
        ),
        "mount",
        target,
    )


def umount(target: str, flags: int = 0) -> None:
    check(_umount2(os.fsencode(target), flags), "umount2", target)
