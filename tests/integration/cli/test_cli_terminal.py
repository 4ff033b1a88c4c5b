"""``-it``: a real terminal, driven through a pseudo-terminal as a user's shell would."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import struct
import termios
import time
from typing import Any as Ketch

import pytest

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _session(kt: Ketch, args: list[str], script: list[bytes], timeout: float = 30) -> tuple[bytes, int]:
    """Run ketch under a new pty (33 rows, 101 columns), type ``script`` line by line, return everything
    shown and the status."""
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        os.execve(kt.argv(*args)[0], kt.argv(*args), kt.env())
    seen = b""
    deadline = time.monotonic() + timeout
    pending = list(script)
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break  # EIO: the session ended
                if not chunk:
                    break
                seen += chunk
            if pending and (b"# " in seen or b"$ " in seen):
                os.write(master, pending.pop(0))
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(master)
    return seen, os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize("runtime", ["ketch-runtime", "runc", "crun"])
def test_run_it_gives_a_terminal(kt: Ketch, runtime: str) -> None:
    if shutil.which(runtime) is None and runtime != "ketch-runtime":
        pytest.skip(f"needs {runtime}")
    seen, code = _session(
        kt, ["run", "-it", "--rm", "--network", "none", "--runtime", runtime, "testbox", "sh"],
        [b"tty; stty size; echo $((6*7))\r", b"exit 3\r"],
    )  # fmt: skip
    assert b"/dev/pts/" in seen
    assert b"33 101" in seen  # our window size reached the container's terminal
    assert b"42" in seen
    assert code == 3


def test_exec_it_into_a_detached_container(kt: Ketch) -> None:
    kt.ok("run", "-d", "--name", "term", "--network", "none", "testbox", "sleep", "60")
    try:
        seen, code = _session(kt, ["exec", "-it", "term", "sh"], [b"stty size; echo $((7*6))x\r", b"exit\r"])
        assert b"42x" in seen
        assert code == 0
    finally:
        kt.ok("rm", "-f", "term")


def test_t_without_a_terminal_is_refused(kt: Ketch) -> None:
    proc = kt("run", "-t", "--rm", "--network", "none", "testbox", "true")
    assert proc.returncode == 125
    assert "not a terminal" in proc.stderr
