"""The closed set of messages between the runtime and the processes it forks, and the order they come in.

Three processes take part in ``create``. The child exists only to enter namespaces that apply to the
children of the process that enters them (pid, time): it forks the init and exits. All three share one
SOCK_SEQPACKET socketpair; each message is one JSON object ``{"t": TYPE, ...}``.

::

    parent (ketch-runtime create)          child                                init (pid 1 in the container)
     │ fork ───────────────────────────────> │
     │                                       │ unshare(user)            (only with a new user ns)
     │ <──────────────────── HELLO ───────── │
     │ write uid_map/gid_map, join cgroups   │
     │ ──── GO ────────────────────────────> │
     │                                       │ setns(paths), unshare(the rest)
     │                                       │ fork ──────────────────────────────────> │
     │ <──────────────────── INIT_PID ────── │ exit                                    │ mounts, devices
     │ <──────────────────────────────────────────────────────────────── MOUNTS_READY ─ │
     │ prestart + createRuntime hooks                                                    │
     │ ─── HOOKS_DONE (state) ─────────────────────────────────────────────────────────> │
     │                                                                                   │ createContainer hooks,
     │                                                                                   │ pivot_root, paths, tty
     │ <────────────────────────────────── SECCOMP_FD (+ fd) ── (only with SCMP_ACT_NOTIFY) ─ │
     │ hand the fd to the listenerPath agent                                             │
     │ <─────────────────────────────────────────────────────────────────────── READY ─ │
     │ write state.json, pid file; exit                                                  │ open exec.fifo (blocks
                                                                                         │ until start), exec
Any process may instead send ERROR {"msg": ...} and exit; the parent then tears everything down.
The init says nothing before the child has sent INIT_PID (a pipe holds it back): the two share the socket.
"""

from __future__ import annotations

__all__ = [
    "ERROR",
    "GO",
    "HELLO",
    "HOOKS_DONE",
    "INIT_PID",
    "MOUNTS_READY",
    "READY",
    "SECCOMP_FD",
    "UnexpectedMessage",
]

HELLO = "hello"
GO = "go"
INIT_PID = "init-pid"
MOUNTS_READY = "mounts-ready"
HOOKS_DONE = "hooks-done"
READY = "ready"
SECCOMP_FD = "seccomp-fd"
ERROR = "error"


class UnexpectedMessage(Exception):
    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"container setup protocol: expected {expected!r}, got {got!r}")
        self.expected = expected
        self.got = got
