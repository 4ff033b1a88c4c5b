"""``run``: create, start, and (unless detached) wait for the container, forwarding signals to it.

With ``process.terminal`` and no console socket, ``run`` allocates the terminal itself: the init sends the
pty master back over an internal socket and this process copies between its own stdio and the master.
"""

from __future__ import annotations

import os

from ketch.linux import signals
from ketch.runtime.state import StateStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["run"]

def run(
    store: StateStore,
    container_id: str,
    opts: Any,
    *,
    detach: bool,
    keep: bool,
    warn: Callable[[str], None],
) -> int:
    from ketch.runtime.container import delete, start
    from ketch.runtime.process.parent import create_container, load_bundle_config

    console_peer = -1
    if not detach and opts.console_socket is None:
        cfg = load_bundle_config(os.path.abspath(opts.bundle))
        if cfg.get("process", {}).get("terminal"):
            import _socket

            a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
            opts.console_fd, console_peer = a.detach(), b.detach()
    # the init is re-parented to us when the middle process exits, so we can wait for it
    try:
        state = create_container(store, container_id, opts)
    finally:
        if opts.console_fd >= 0:
            os.close(opts.console_fd)
            opts.console_fd = -1
    master = -1
    if console_peer >= 0:
        from ketch.linux.term import recv_fd

        _payload, master = recv_fd(console_peer)
        os.close(console_peer)
    pid = state["pid"]
    if detach:
        for w in start(store, container_id):
            warn(w)
        return 0
    previous = {s: signals.set_handler(s, lambda signum, frame: _forward(pid, signum)) for s in signals.FORWARDABLE}
    try:
        for w in start(store, container_id):
            warn(w)
        status = _proxy_and_wait(master, pid) if master >= 0 else _wait(pid)
    finally:
        for s, h in previous.items():
            signals.set_handler(s, h)
    if not keep:
        for w in delete(store, container_id, force=True):
            warn(w)
    return status


def wait_for(pid: int, master: int = -1) -> int:
    """Wait for ``pid`` (re-parented to us), passing signals on and copying the terminal; its exit code."""
    previous = {s: signals.set_handler(s, lambda signum, frame: _forward(pid, signum)) for s in signals.FORWARDABLE}
    try:
        return _proxy_and_wait(master, pid) if master >= 0 else _wait(pid)
    finally:
        for s, h in previous.items():
            signals.set_handler(s, h)


def _forward(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _wait(pid: int) -> int:
    """Reap until the init exits (as subreaper we also collect orphans from a shared pid namespace)."""
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        if done == pid:
            return _exit_code(status)


def _proxy_and_wait(master: int, pid: int) -> int:
    import select
    import termios
    import tty

    stdin_tty = os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_tty else None
    if stdin_tty:
        tty.setraw(0)
        _copy_winsize(0, master)
        signals.set_handler(signals.SIGWINCH, lambda s, f: _copy_winsize(0, master))
    try:
        fds = [master, 0]
        status: int | None = None
        while True:
            try:
                ready, _, _ = select.select(fds, [], [], 0.05)
            except InterruptedError:
                ready = []
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    fds.remove(master)
                else:
                    os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    fds.remove(0)
                else:
                    os.write(master, data)
            if status is None:
                done, st = os.waitpid(-1, os.WNOHANG)
                if done == pid:
                    status = st
            if status is not None and (master not in fds or not ready):
                return _exit_code(status)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os.close(master)


def _copy_winsize(src: int, dst: int) -> None:
    import fcntl
    import termios

    try:
        fcntl.ioctl(dst, termios.TIOCSWINSZ, fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        pass
