"""The one ctypes handle on libc, system call numbers, and the errno check every wrapper uses."""

from __future__ import annotations

import ctypes
import os

__all__ = ["NR", "check", "libc", "syscall"]

libc = ctypes.CDLL(None, use_errno=True)

_NUMBERS = {
    # name: (x86_64, aarch64)
    "pivot_root": (155, 41),
    "capget": (125, 90),
    "capset": (126, 91),
    "seccomp": (317, 277),
    "bpf": (321, 280),
    "execveat": (322, 281),
    "pidfd_open": (434, 434),
    "close_range": (436, 436),
    "openat2": (437, 437),
    "pidfd_send_signal": (424, 424),
    "pidfd_getfd": (438, 438),
    "keyctl": (250, 219),
    "ioprio_set": (251, 30),
    "sched_setattr": (314, 274),
}
_ARCH = os.uname().machine
_INDEX = {"x86_64": 0, "aarch64": 1}.get(_ARCH)
if _INDEX is None:  # pragma: no cover - other arches are not supported yet
    raise ImportError(f"ketch.linux supports x86_64 and aarch64, not {_ARCH}")
NR: dict[str, int] = {name: nums[_INDEX] for name, nums in _NUMBERS.items()}

_syscall = libc.syscall
_syscall.restype = ctypes.c_long


def check(result: int, op: str, path: str | None = None) -> int:
    """Turn a libc ``-1`` into ``OSError(errno, op, path)``."""
    if result == -1:
        err = ctypes.get_errno()
        if path is None:
            raise OSError(err, f"{op}: {os.strerror(err)}")
        raise OSError(err, f"{op}: {os.strerror(err)}", path)
    return result


def syscall(name: str, *args: object, path: str | None = None) -> int:
    """Call a raw system call by name; raises OSError on failure."""
    return check(_syscall(NR[name], *args), name, path)
