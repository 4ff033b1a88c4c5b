"""A foreground container with a terminal (``ketch run -t``): the runtime's ``--console-socket``.

runtime-spec (runtime.md, "console socket"; runc's docs/terminals.md): with ``process.terminal`` the runtime
creates the pty inside the container and sends its master over the unix socket given with
``--console-socket`` (SCM_RIGHTS). We become a child subreaper first, so the container's init (whose
parent, the runtime, exits after ``create``) is re-parented to us and its exit status is ours to collect.
Then our terminal goes raw, its size goes to the master (and again on every SIGWINCH), ``start`` runs the
program, and bytes are copied both ways until the init exits. Ctrl-C is a byte on the pty (the container's
line discipline turns it into SIGINT there); SIGTERM, SIGHUP and SIGQUIT sent to ``ketch`` are passed on.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import termios
import time
import tty
from collections.abc import Iterator
from typing import Any

from ketch.engine.errors import RuntimeFailed
from ketch.engine.ocirt import OciRuntime
from ketch.linux.prctl import set_child_subreaper
from ketch.linux.term import recv_fd

__all__ = ["run_with_console"]


def _copy_winsize(src: int, dst: int) -> None:
    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass


@contextlib.contextmanager
def _raw(fd: int) -> Iterator[None]:
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)


def _receive_master(listener: socket.socket, proc: Any) -> int:
    listener.settimeout(0.1)
    while True:
        try:
            conn, _ = listener.accept()
            break
        except TimeoutError:
            if proc.poll() is not None:
                raise RuntimeFailed("the runtime exited without sending the terminal") from None
    with conn:
        _payload, master = recv_fd(conn.fileno())
    if master < 0:
        raise RuntimeFailed("the runtime sent no terminal over the console socket")
    return master


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def run_with_console(runtime: OciRuntime, cid: str, bundle: str, *, stdin: bool) -> int:
    """Create and start ``cid`` with a pty, copy between it and our stdio; the container's exit code."""
    set_child_subreaper(True)
    scratch = tempfile.mkdtemp(prefix="ketch-console-")  # short: sun_path holds 108 bytes
    sock_path = os.path.join(scratch, "console.sock")
    pid_file = os.path.join(scratch, "pid")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(sock_path)
        listener.listen(1)
        with tempfile.TemporaryFile() as err:
            proc = runtime.popen(
                "create", "--bundle", bundle, "--console-socket", sock_path, "--pid-file", pid_file, cid,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
            master = -1
            try:
                master = _receive_master(listener, proc)
            finally:
                code = proc.wait()
                err.seek(0)
                message = err.read().decode(errors="replace").strip()
        if code != 0:
            if master >= 0:
                os.close(master)
            raise RuntimeFailed(f"{runtime.name} create: {message.splitlines()[-1] if message else code}")
        with open(pid_file) as f:
            pid = int(f.read().strip())
    finally:
        listener.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return _session(runtime, cid, pid, master, stdin=stdin)


def _reap(pid: int, status: int | None, grace: float = 10.0) -> int:
    """The init's status after a hang-up: it should exit on its own (EIO, SIGHUP); else SIGKILL."""
    deadline = time.monotonic() + grace
    while status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            return st
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return os.waitpid(pid, 0)[1]
        time.sleep(0.05)
    return status


def _session(runtime: OciRuntime, cid: str, pid: int, master: int, *, stdin: bool) -> int:
    def forward(signum: int, frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    handlers = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)}
    handlers[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, lambda s, f: _copy_winsize(0, master))
    status = None
    hung_up = False
    try:
        _copy_winsize(0, master)
        with _raw(0) if stdin else contextlib.nullcontext():
            runtime.start(cid)
            inputs = [master, 0] if stdin else [master]
            while True:
                try:
                    ready, _, _ = select.select(inputs, [], [], 0.2)
                except InterruptedError:
                    continue
                if master in ready:
                    try:
                        data = os.read(master, 65536)
                    except OSError as e:
                        if e.errno != errno.EIO:
                            raise
                        data = b""  # EIO: every holder of the pty's other end is gone
                    if not data:
                        break
                    _write_all(1, data)
                if 0 in ready:
                    try:
                        data = os.read(0, 65536)
                    except OSError as e:
                        if e.errno != errno.EIO:
                            raise
                        data = b""
                    if data:
                        _write_all(master, data)
                    else:
                        # our terminal hung up: hang up the container's (closing the master), as a
                        # terminal emulator closing its window does; nobody is left to read the output
                        hung_up = True
                        break
                if status is None:
                    done, st = os.waitpid(pid, os.WNOHANG)
                    if done:
                        status = st
                        # drain what the program wrote before exiting, then stop
                        inputs = [master]
        if hung_up:
            os.close(master)
            master = -1
            status = _reap(pid, status)
        if status is None:
            _, status = os.waitpid(pid, 0)
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
        if master >= 0:
            os.close(master)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code  # killed by signal N: 128+N, as shells report it
