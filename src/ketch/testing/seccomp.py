"""Running a child under a seccomp filter, for the tests of seccomp profiles (fork, load, exec, collect)."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import NamedTuple

from ketch.linux.seccomp import SECCOMP_FILTER_FLAG_NEW_LISTENER, load_filter

__all__ = ["Result", "private_mount_namespace", "run_under_filter"]

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_NO_NEW_PRIVS = 38


class Result(NamedTuple):
    status: int  # os.waitpid status
    stdout: str
    stderr: str
    pid: int

    @property
    def exit_code(self) -> int | None:
        return os.waitstatus_to_exitcode(self.status) if os.WIFEXITED(self.status) else None

    @property
    def signal(self) -> int | None:
        return os.WTERMSIG(self.status) if os.WIFSIGNALED(self.status) else None


def run_under_filter(
    bpf: bytes,
    flags: int,
    target: list[str] | Callable[[], int],
    *,
    on_listener: Callable[[int, int], None] | None = None,
    setup: Callable[[], None] | None = None,
    timeout: float = 30.0,
) -> Result:
    """Fork; in the child run ``setup``, set no_new_privs, load the filter, then exec ``target`` (argv) or
    call it (its return value is the exit code).

    With NEW_LISTENER the child sends the listener fd back over a socketpair before exec, as a runtime's
    init does, and ``on_listener(fd, child_pid)`` runs in the parent (the fd is closed after it returns).
    """
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    parent_sock, child_sock = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # child: only os-level calls from here, then exec or _exit
        code = 126
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            if setup is not None:
                setup()
            if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl")
            fd = load_filter(bpf, flags)
            if fd >= 0:
                socket.send_fds(child_sock, [b"seccomp"], [fd])
            if callable(target):
                code = target()
            else:
                os.execv(target[0], target)
        except BaseException as e:
            try:
                os.write(2, f"child: {e!r}\n".encode())
            except BaseException:
                pass
        os._exit(code)
    for fd in (out_w, err_w):
        os.close(fd)
    child_sock.close()
    try:
        if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER:
            parent_sock.settimeout(timeout)
            _, fds, _, _ = socket.recv_fds(parent_sock, 16, 1)
            assert fds, "the child sent no listener fd"
            try:
                assert on_listener is not None
                on_listener(fds[0], pid)
            finally:
                os.close(fds[0])
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"child did not finish in {timeout}s")
            time.sleep(0.005)
        return Result(status, _drain(out_r), _drain(err_r), pid)
    finally:
        parent_sock.close()
        for fd in (out_r, err_r):
            try:
                os.close(fd)
            except OSError:
                pass


def private_mount_namespace() -> None:
    """A ``setup`` for children that try mounts: their own mount namespace, so nothing reaches the host."""
    if _libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
        raise OSError(ctypes.get_errno(), "unshare")
    if _libc.mount(None, b"/", None, 0x4000 | 0x40000, None) != 0:  # MS_REC | MS_PRIVATE
        raise OSError(ctypes.get_errno(), "mount")


def _drain(fd: int) -> str:
    chunks = []
    os.set_blocking(fd, False)
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")
