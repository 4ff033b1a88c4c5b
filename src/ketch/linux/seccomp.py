"""seccomp(2): load a raw classic-BPF filter, probe what the kernel supports, and serve user notifications.

Loading is the hot path of a container start: :func:`load_filter` takes the filter as bytes (an array of
``struct sock_filter``, 8 bytes each, host byte order) and makes exactly one system call. It needs either
``no_new_privs`` set on the calling thread or CAP_SYS_ADMIN in its user namespace (seccomp(2), EACCES
otherwise).

The user-notification half (``SECCOMP_IOCTL_NOTIF_*``) is what a seccomp agent uses on the listener fd that
``SECCOMP_FILTER_FLAG_NEW_LISTENER`` returns.
"""

from __future__ import annotations

import ctypes
import errno

from ketch.linux._libc import check, libc, syscall

__all__ = [
    "BPF_MAXINSNS",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_NEW_LISTENER",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_TSYNC_ESRCH",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    "SECCOMP_USER_NOTIF_FLAG_CONTINUE",
    "Notification",
    "action_available",
    "flag_supported",
    "load_filter",
    "notif_id_valid",
    "notif_recv",
    "notif_send",
]

# <linux/seccomp.h> operations
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2

# filter flags
SECCOMP_FILTER_FLAG_TSYNC = 1 << 0
SECCOMP_FILTER_FLAG_LOG = 1 << 1
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 1 << 2
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 1 << 4
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5

SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1 << 0

BPF_MAXINSNS = 4096  # the kernel refuses longer classic-BPF programs

# ioctls on the listener fd: _IOWR('!', 0, struct seccomp_notif), _IOWR('!', 1, struct seccomp_notif_resp),
# _IOW('!', 2, __u64)
_NOTIF_RECV = 0xC0502100
_NOTIF_SEND = 0xC0182101
_NOTIF_ID_VALID = 0x40082102


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _SeccompData(ctypes.Structure):
    _fields_ = [
        ("nr", ctypes.c_int),
        ("arch", ctypes.c_uint32),
        ("instruction_pointer", ctypes.c_uint64),
        ("args", ctypes.c_uint64 * 6),
    ]


class _SeccompNotif(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_uint64),
        ("pid", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("data", _SeccompData),
    ]


class _SeccompNotifResp(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_uint64),
        ("val", ctypes.c_int64),
        ("error", ctypes.c_int32),
        ("flags", ctypes.c_uint32),
    ]


_ioctl = libc.ioctl
_ioctl.restype = ctypes.c_int


def load_filter(bpf: bytes, flags: int = 0) -> int:
    """Install ``bpf`` on the calling thread (and with TSYNC every thread) with seccomp(SET_MODE_FILTER).

    Returns the notification listener fd (close-on-exec, as the kernel makes it) when ``flags`` has
    ``SECCOMP_FILTER_FLAG_NEW_LISTENER``, else -1. Raises OSError: EACCES without no_new_privs or
    CAP_SYS_ADMIN, EINVAL for a flag the kernel does not know or a malformed program.
    """
    if not bpf or len(bpf) % 8:
        raise OSError(errno.EINVAL, f"seccomp: a filter is a whole number of 8-byte instructions, not {len(bpf)} bytes")
    count = len(bpf) // 8
    if count > BPF_MAXINSNS:
        raise OSError(errno.EINVAL, f"seccomp: filter has {count} instructions, the kernel takes {BPF_MAXINSNS}")
    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _SockFprog(count, ctypes.cast(buf, ctypes.c_void_p))
    result = syscall(
        "seccomp", ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(flags), ctypes.byref(prog)
    )
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER:
        return result
    if result > 0:
        # plain TSYNC reports a thread it could not synchronise by returning its id, and installs nothing
        raise OSError(errno.ESRCH, f"seccomp: thread {result} could not be synchronised (TSYNC); no filter installed")
    return -1


def flag_supported(flag: int) -> bool:
    """Whether the running kernel knows the filter flag(s) ``flag``.

    Probes with a NULL program: a kernel that accepts the flags goes on to read the program and fails with
    EFAULT; one that does not know a flag fails with EINVAL first. WAIT_KILLABLE_RECV is only valid together
    with NEW_LISTENER, so it is probed that way.
    """
    if flag & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV:
        flag |= SECCOMP_FILTER_FLAG_NEW_LISTENER
    try:
        syscall("seccomp", ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(flag), ctypes.c_void_p(None))
    except OSError as e:
        return e.errno == errno.EFAULT
    return True  # pragma: no cover - a NULL program is never accepted


def action_available(action: int) -> bool:
    """Whether the kernel implements the filter return action ``action`` (SECCOMP_RET_*, data bits ignored)."""
    value = ctypes.c_uint32(action & 0xFFFF0000)
    try:
        syscall("seccomp", ctypes.c_uint(SECCOMP_GET_ACTION_AVAIL), ctypes.c_uint(0), ctypes.byref(value))
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.EINVAL):
            return False
        raise
    return True


class Notification:
    """One ``struct seccomp_notif``: a system call a filtered task is blocked in, waiting for an answer.
    (A plain class: ``typing.NamedTuple`` would load typing on the runtime's start-up path.)"""

    __slots__ = ("arch", "args", "flags", "id", "instruction_pointer", "nr", "pid")

    def __init__(
        self, id: int, pid: int, flags: int, nr: int, arch: int, instruction_pointer: int,
        args: tuple[int, int, int, int, int, int],
    ) -> None:  # fmt: skip
        self.id = id
        self.pid = pid
        self.flags = flags
        self.nr = nr
        self.arch = arch
        self.instruction_pointer = instruction_pointer
        self.args = args


def notif_recv(listener: int) -> Notification:
    """SECCOMP_IOCTL_NOTIF_RECV: block until a filtered task makes a notified system call, and return it."""
    notif = _SeccompNotif()  # the kernel requires a zeroed buffer
    check(_ioctl(ctypes.c_int(listener), ctypes.c_ulong(_NOTIF_RECV), ctypes.byref(notif)), "seccomp notif recv")
    d = notif.data
    args = tuple(int(a) for a in d.args)
    return Notification(
        notif.id, notif.pid, notif.flags, d.nr, d.arch, d.instruction_pointer,
        (args[0], args[1], args[2], args[3], args[4], args[5]),
    )


def notif_send(listener: int, notif_id: int, val: int = 0, error: int = 0, flags: int = 0) -> None:
    """SECCOMP_IOCTL_NOTIF_SEND: answer notification ``notif_id``.

    The blocked system call returns ``val`` when ``error`` is 0, else fails with ``-error`` (a negative errno,
    e.g. ``-errno.EPERM``). With ``SECCOMP_USER_NOTIF_FLAG_CONTINUE`` the kernel runs the call itself.
    Raises OSError(ENOENT) when the task is gone or the call was interrupted.
    """
    resp = _SeccompNotifResp(notif_id, val, error, flags)
    check(_ioctl(ctypes.c_int(listener), ctypes.c_ulong(_NOTIF_SEND), ctypes.byref(resp)), "seccomp notif send")


def notif_id_valid(listener: int, notif_id: int) -> bool:
    """SECCOMP_IOCTL_NOTIF_ID_VALID: whether the task of ``notif_id`` still waits in that system call.

    An agent that read the task's memory (``/proc/<pid>/mem``) checks this before acting on what it read, so a
    task that died and whose pid was reused cannot feed it another process's data (TOCTOU on pid reuse).
    """
    value = ctypes.c_uint64(notif_id)
    try:
        check(_ioctl(ctypes.c_int(listener), ctypes.c_ulong(_NOTIF_ID_VALID), ctypes.byref(value)), "seccomp notif id valid")
    except OSError as e:
        if e.errno == errno.ENOENT:
            return False
        raise
    return True
