"""``exec``: a new process in a running container's namespaces and cgroup.

The same three-process shape as create (see :mod:`.messages`), shorter::

    parent (ketch-runtime exec)       child                                   process
     │ fork ───────────────────────────> │ setns: every namespace of the init
     │ <─────────────────── HELLO ────── │
     │ join the container's cgroups      │
     │ ──── GO ────────────────────────> │ fork ──────────────────────────────> │ console, rlimits, user,
     │ <─────────────────── INIT_PID ─── │ exit                                 │ capabilities, seccomp
     │ <────────────────────────────────────────────────────────────── READY ─ │ exec the program
     │ wait for it (unless --detach), pass signals on, exit with its status

Everything is imported before the first setns: after joining the mount namespace the host's files, and so
Python's modules, are out of reach.
"""

from __future__ import annotations

import os

from ketch.linux import ns as nslib
from ketch.linux import prctl
from ketch.runtime.errors import CreateFailed, InvalidState
from ketch.runtime.process.channel import Channel, ChannelClosed, RemoteError, socketpair
from ketch.runtime.process.init import (
    InitContext,
    _describe,
    change_user,
    close_leaked_fds,
    exec_program,
    find_program,
    fork_reported,
    no_new_privileges,
    report_ready,
    run_steps,
    seccomp_last,
    seccomp_listener,
    seccomp_privileged,
    set_rlimits,
    setup_console,
)
from ketch.runtime.process.messages import GO, HELLO, INIT_PID, READY

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ExecOptions", "exec_process"]

# setns order: the user namespace last (see parent._child); mount before pid is irrelevant, pid applies to
# children only.
_JOIN_ORDER = ("cgroup", "ipc", "uts", "network", "pid", "time", "mount", "user")


class ExecOptions:
    def __init__(
        self,
        *,
        console_socket: str | None = None,
        console_fd: int = -1,
        pid_file: str | None = None,
        preserve_fds: int = 0,
        detach: bool = False,
    ) -> None:
        self.console_socket = console_socket
        self.console_fd = console_fd
        self.pid_file = pid_file
        self.preserve_fds = preserve_fds
        self.detach = detach


BEFORE_READY = (setup_console, set_rlimits, close_leaked_fds, find_program, seccomp_listener, report_ready)
AFTER_READY = (seccomp_privileged, change_user, no_new_privileges, seccomp_last, exec_program)


def exec_process(state: dict[str, Any], process: dict[str, Any], opts: ExecOptions, root: str) -> int:
    """Start ``process`` in the container; returns its pid (the caller waits for it unless detached)."""
    cfg = state["config"]
    linux = cfg.get("linux", {})
    init_pid = state["pid"]
    kinds = [n["type"] for n in linux.get("namespaces", [])]
    fds: list[tuple[str, int]] = []
    try:
        for kind in _JOIN_ORDER:
            if kind in kinds:
                name = {"network": "net", "mount": "mnt"}.get(kind, kind)
                fds.append((kind, os.open(f"/proc/{init_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)))
    except OSError as exc:
        _close(fds)
        raise InvalidState(f'container "{state["id"]}" is not running ({exc.strerror})') from None
    seccomp = None
    if linux.get("seccomp"):
        from ketch.runtime.process.parent import _prepare_seccomp

        seccomp = _prepare_seccomp(linux["seccomp"], root)
    from ketch.runtime.process.parent import _connect, _trampoline

    trampoline = _trampoline()
    console_fd = opts.console_fd
    if opts.console_socket is not None:
        console_fd = _connect(opts.console_socket)
    if process.get("terminal"):
        import fcntl  # noqa: F401
        import struct  # noqa: F401
        import termios  # noqa: F401

        from ketch.linux import term  # noqa: F401
    exec_cfg = {**cfg, "process": process, "hooks": {}}
    parent_fd, child_fd = socketpair()
    channel = Channel(parent_fd)
    ctx = InitContext(
        exec_cfg,
        state["bundle"],
        state["rootfs"],
        Channel(child_fd),
        fifo_fd=-1,
        trampoline_fd=trampoline,
        console_fd=console_fd,
        preserve_fds=opts.preserve_fds,
        no_pivot=False,
        userns="user" in kinds,
        cgroupns="cgroup" in kinds,
        cgroup_paths={},
        seccomp=seccomp,
    )
    prctl.set_child_subreaper(True)
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(parent_fd)
        _child(ctx, fds)
    os.close(child_fd)
    _close(fds)
    for fd in (trampoline, console_fd if opts.console_socket is not None else -1):
        if fd >= 0:
            os.close(fd)
    pid = 0
    try:
        channel.recv(HELLO)
        if state.get("cgroup"):
            from ketch.runtime.cgroups import new_manager_from_state

            new_manager_from_state(state["cgroup"]).add_pid(child)
        channel.send(GO)
        pid = int(channel.recv(INIT_PID)["pid"])
        os.waitpid(child, 0)
        child = 0
        if seccomp is not None and seccomp.notify:
            # SCMP_ACT_NOTIFY: the exec'd process's listener goes to the agent too, with the container's state
            from ketch.runtime.process.parent import _hand_over_listener, _json, public_state

            _hand_over_listener(channel, seccomp, _json(public_state(state, "running")))
        channel.recv(READY)
    except (ChannelClosed, RemoteError, OSError) as exc:
        for p in (child, pid):
            if p:
                try:
                    os.kill(p, 9)
                    os.waitpid(p, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CreateFailed(f'exec in container "{state["id"]}": {text}') from None
    finally:
        channel.close()
    if opts.pid_file:
        from ketch._common.atomicio import write_atomic

        write_atomic(os.path.abspath(opts.pid_file), str(pid).encode(), 0o644)
    return pid


def _close(fds: list[tuple[str, int]]) -> None:
    for _kind, fd in fds:
        os.close(fd)


def _child(ctx: InitContext, fds: list[tuple[str, int]]) -> None:  # pragma: no cover - runs in the child
    channel = ctx.channel
    try:
        # non-dumpable before entering the container: its processes must not reach us (CVE-2019-5736)
        prctl.set_dumpable(False)
        for kind, fd in fds:
            if kind != "user":
                nslib.setns(fd, nslib.CLONE_FLAGS[kind])
        for kind, fd in fds:
            if kind == "user":
                nslib.setns(fd, nslib.CLONE_NEWUSER)
        for _kind, fd in fds:
            os.close(fd)
        channel.send(HELLO)
        channel.recv(GO)
        fork_reported(channel, lambda: _process(ctx))
    except BaseException as exc:
        channel.send_error(_describe(exc))
        os._exit(1)


def _process(ctx: InitContext) -> None:  # pragma: no cover - runs in the container
    def prepare() -> None:
        if ctx.process.get("terminal"):
            os.setsid()

    run_steps(ctx, prepare, BEFORE_READY, AFTER_READY, "ketch-runtime exec")
