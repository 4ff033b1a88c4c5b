"""Run ``ketch-runtime`` in a fork of the calling ``ketch`` process instead of a new interpreter.

``ketch run --rm`` calls the OCI runtime at least once per container, and each call of ketch-runtime starts
an interpreter and imports its modules again: some twenty milliseconds that this process has already paid
for. When the runtime binary is a launcher written by :mod:`ketch.cli.launcher` for this very interpreter and
this very ketch, :func:`spawn` forks and runs the runtime's ``main`` in the child, which is exactly what the
launcher would run after ``exec``: the same code, arguments, environment and standard streams. Anything
else (runc, crun, a pip console script, a launcher of another installation) is executed as usual.

The child behaves like a freshly executed program: the given streams become 0, 1 and 2 (and sys.stdin, stdout, stderr), every other
descriptor is closed (as ``subprocess`` does with ``close_fds``), signal dispositions are an interpreter's
defaults, and objects inherited from the parent are frozen out of garbage collection, so no finaliser of
the parent's closes a descriptor number the runtime has since reused.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

__all__ = ["ForkedRuntime", "is_own_launcher", "spawn"]

_MARKER = "from ketch.cli.runtime import main"
_own: dict[str, bool] = {}


def _package_parent() -> str:
    import ketch

    return os.path.dirname(os.path.dirname(os.path.abspath(ketch.__file__)))


def is_own_launcher(binary: str) -> bool:
    """Whether ``binary`` is a ketch-runtime launcher for this interpreter and this ketch package."""
    if binary not in _own:
        try:
            with open(binary, "rb") as f:
                head = f.read(1024).decode(errors="replace")
        except OSError:
            head = ""
        lines = head.splitlines()
        _own[binary] = (
            len(lines) > 3
            and lines[0] == f"#!{sys.executable} -IS"
            and _MARKER in lines
            and any(line.startswith("sys.path[:0] = [") and repr(_package_parent()) in line for line in lines)
        )
    return _own[binary]


def _other_threads() -> bool:
    """Whether threads besides this one run (a pull's workers, say): a fork copies only the calling thread,
    and a lock another thread held at that moment would stay held in the child; then execute instead."""
    threading = sys.modules.get("threading")
    return threading is not None and threading.active_count() > 1


class ForkedRuntime:
    """The part of :class:`subprocess.Popen` the engine uses, for a runtime running in a forked child."""

    def __init__(self, pid: int, args: list[str]) -> None:
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def _reaped(self, status: int) -> int:
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._reaped(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        if timeout is None:
            while True:
                try:
                    return self._reaped(os.waitpid(self.pid, 0)[1])
                except InterruptedError:
                    continue
        import time

        deadline = time.monotonic() + timeout
        delay = 0.0005
        while self.poll() is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _target_fd(target: Any) -> int | None:
    if target is None:
        return None
    if target == subprocess.DEVNULL:
        return os.open(os.devnull, os.O_RDWR)
    if isinstance(target, int):
        return target
    fd: int = target.fileno()
    return fd


def _child(argv: list[str], streams: tuple[Any, Any, Any]) -> None:
    """In the forked child: become ``ketch-runtime ARGS...``; never returns."""
    code = 1
    try:
        import gc

        gc.freeze()  # the parent's objects: never collected here, so none of their finalisers run
        fds = [_target_fd(t) for t in streams]
        for number, fd in enumerate(fds):
            if fd is not None and fd != number:
                os.dup2(fd, number)
        os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1 << 16)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as a new interpreter has it
        # fresh streams on 0, 1 and 2: the parent's may have been replaced (redirect_stdout, a test's capture)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False, errors="backslashreplace", buffering=1)  # noqa: SIM115
        sys.argv = list(argv)
        from ketch.cli.runtime import main

        code = main(list(argv[1:]))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, int) and e.code is not None:
            sys.stderr.write(f"{e.code}\n")
    except BaseException:
        try:
            import traceback

            traceback.print_exc()
        except BaseException:
            pass
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os._exit(code & 0xFF)


def spawn(argv: list[str], *, stdin: IO[Any] | int | None = None, stdout: IO[Any] | int | None = None,
          stderr: IO[Any] | int | None = None) -> subprocess.Popen[bytes] | ForkedRuntime:  # fmt: skip
    """Start ``argv`` like ``subprocess.Popen``; our own ketch-runtime launcher runs in a fork of this process."""
    if not is_own_launcher(argv[0]) or _other_threads():
        return subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the child would write what is buffered here a second time
    pid = os.fork()
    if pid == 0:
        _child(argv, (stdin, stdout, stderr))
    return ForkedRuntime(pid, list(argv))
