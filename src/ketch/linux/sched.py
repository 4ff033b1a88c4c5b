"""Scheduling, I/O priority and execution domain of the calling process: sched_setattr(2),
ioprio_set(2), personality(2)."""

from __future__ import annotations

import ctypes

from ketch.linux._libc import check, libc, syscall

__all__ = [
    "IOPRIO_CLASSES",
    "PERSONALITIES",
    "SCHED_FLAGS",
    "SCHED_POLICIES",
    "ioprio_set",
    "personality",
    "sched_setattr",
]

SCHED_POLICIES = {
    "SCHED_OTHER": 0,
    "SCHED_FIFO": 1,
    "SCHED_RR": 2,
    "SCHED_BATCH": 3,
    "SCHED_ISO": 4,
    "SCHED_IDLE": 5,
    "SCHED_DEADLINE": 6,
}
SCHED_FLAGS = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01,
    "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04,
    "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10,
    "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
PERSONALITIES = {"LINUX": 0x0000, "LINUX32": 0x0008}

_IOPRIO_WHO_PROCESS = 1
_IOPRIO_CLASS_SHIFT = 13


class _SchedAttr(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("sched_policy", ctypes.c_uint32),
        ("sched_flags", ctypes.c_uint64),
        ("sched_nice", ctypes.c_int32),
        ("sched_priority", ctypes.c_uint32),
        ("sched_runtime", ctypes.c_uint64),
        ("sched_deadline", ctypes.c_uint64),
        ("sched_period", ctypes.c_uint64),
    ]


def sched_setattr(
    policy: int,
    *,
    flags: int = 0,
    nice: int = 0,
    priority: int = 0,
    runtime: int = 0,
    deadline: int = 0,
    period: int = 0,
) -> None:
    attr = _SchedAttr(ctypes.sizeof(_SchedAttr), policy, flags, nice, priority, runtime, deadline, period)
    syscall("sched_setattr", ctypes.c_int(0), ctypes.byref(attr), ctypes.c_uint(0))


def ioprio_set(klass: int, level: int) -> None:
    syscall(
        "ioprio_set",
        ctypes.c_int(_IOPRIO_WHO_PROCESS),
        ctypes.c_int(0),
        ctypes.c_int((klass << _IOPRIO_CLASS_SHIFT) | level),
    )


_personality = libc.personality
_personality.argtypes = [ctypes.c_ulong]


def personality(persona: int) -> None:
    check(_personality(persona), "personality")
