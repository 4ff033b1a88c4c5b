"""Capabilities: the name table, and capget/capset of the five sets through the raw system calls."""

from __future__ import annotations

import ctypes

from ketch.linux._libc import syscall

__all__ = ["CAPS", "CapSets", "capget", "capset", "last_cap"]

# capability(7) numbers, in kernel order.
_NAMES = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"]
CAPS: dict[str, int] = {f"CAP_{name}": i for i, name in enumerate(_NAMES)}

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


class CapSets:
    """Effective, permitted and inheritable sets as 64-bit masks."""

    __slots__ = ("effective", "inheritable", "permitted")

    def __init__(self, effective: int, permitted: int, inheritable: int) -> None:
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable


def capget(pid: int = 0) -> CapSets:
    header = _Header(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_Data * 2)()
    syscall("capget", ctypes.byref(header), data)
    return CapSets(
        data[0].effective | (data[1].effective << 32),
        data[0].permitted | (data[1].permitted << 32),
        data[0].inheritable | (data[1].inheritable << 32),
    )


def capset(sets: CapSets) -> None:
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i, shift in ((0, 0), (1, 32)):
        data[i].effective = (sets.effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (sets.permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (sets.inheritable >> shift) & 0xFFFFFFFF
    syscall("capset", ctypes.byref(header), data)


def last_cap() -> int:
    """The highest capability number this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read())
    except OSError:
        return len(_NAMES) - 1
