"""File descriptor helpers: openat2 with RESOLVE_* flags, close_range, O_PATH handles."""

from __future__ import annotations

import ctypes
import os

from ketch.linux._libc import syscall

__all__ = [
    "CLOSE_RANGE_CLOEXEC",
    "RESOLVE_BENEATH",
    "RESOLVE_IN_ROOT",
    "RESOLVE_NO_MAGICLINKS",
    "RESOLVE_NO_SYMLINKS",
    "RESOLVE_NO_XDEV",
    "close_range",
    "fd_path",
    "openat2",
    "syncfs",
]

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE_CACHED = 0x20

CLOSE_RANGE_CLOEXEC = 1 << 2


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """openat2(2): open ``path`` relative to ``dirfd`` under the ``resolve`` restrictions.

    With ``RESOLVE_IN_ROOT`` every ``..`` and absolute symlink is resolved as if ``dirfd`` were ``/``: the way
    to open paths inside a container root without following links out of it (CVE-2021-30465 class).
    O_CLOEXEC is always added.
    """
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    return syscall(
        "openat2",
        ctypes.c_int(dirfd),
        ctypes.c_char_p(os.fsencode(path)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
        path=path,
    )


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    """close_range(2): close (or with CLOSE_RANGE_CLOEXEC, mark close-on-exec) fds ``first..last``."""
    syscall("close_range", ctypes.c_uint(first), ctypes.c_uint(last), ctypes.c_uint(flags))


def fd_path(fd: int) -> str:
    """The /proc magic-link path of ``fd``: mount(2) and friends follow it to the file itself."""
    return f"/proc/self/fd/{fd}"


def syncfs(path: str) -> None:
    """syncfs(2): flush the whole filesystem holding ``path`` (one call instead of an fsync per file)."""
    from ketch.linux._libc import check, libc

    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        check(libc.syncfs(fd), "syncfs", path)
    finally:
        os.close(fd)
