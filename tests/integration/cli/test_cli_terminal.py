"""``-it``: a real terminal, driven through a pseudo-terminal as a user's shell would."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import termios
import time
from typing import Any
from typing import Any as Ketch

import pytest

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _session(kt: Ketch, args: list[str], script: list[Any], timeout: float = 30) -> tuple[bytes, int]:
    """Run ketch under a new pty (33 rows, 101 columns), type ``script`` line by line, return everything
    shown and the status. An item ``(EXPECT, DATA)`` waits until EXPECT appears in what follows the last
    input, pauses half a second, then types DATA."""
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        os.execve(kt.argv(*args)[0], kt.argv(*args), kt.env())
    seen = b""
    mark = 0
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
            if pending and isinstance(pending[0], tuple):
                expect, data = pending[0]
                if expect in seen[mark:]:
                    time.sleep(0.5)  # let the command the marker announced get going
                    pending.pop(0)
                    os.write(master, data)
                    mark = len(seen)
            elif pending and (b"# " in seen or b"$ " in seen):
                item = pending.pop(0)
                assert isinstance(item, bytes)
                os.write(master, item)
                mark = len(seen)
        else:
            os.kill(pid, signal.SIGKILL)  # the session did not end in time: fail rather than hang
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


def test_signals_reach_a_foreground_container(kt: Ketch) -> None:
    proc = subprocess.Popen(
        kt.argv("run", "--rm", "--network", "none", "testbox", "sh", "-c",
                "trap 'echo got-term; exit 9' TERM; echo ready; while true; do sleep 0.1; done"),
        env=kt.env(), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.read() == b"got-term\n"
    assert proc.wait(30) == 9


def test_ctrl_c_on_the_terminal_interrupts_the_container(kt: Ketch) -> None:
    seen, code = _session(
        kt, ["run", "-it", "--rm", "--network", "none", "testbox", "sh"],
        [b"echo started; sleep 30\r", (b"started\r\n", b"\x03"), (b"# ", b"echo status-$?; exit 5\r")],
    )  # fmt: skip
    assert b"status-130" in seen  # sleep died of SIGINT, delivered by the container's own terminal
    assert code == 5


def test_closing_the_terminal_ends_the_container(kt: Ketch) -> None:
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        args = kt.argv("run", "-it", "--rm", "--network", "none", "testbox", "sh")
        os.execve(args[0], args, kt.env())
    seen = b""
    while b"# " not in seen:
        ready, _, _ = select.select([master], [], [], 30)
        assert ready, f"no prompt: {seen!r}"
        seen += os.read(master, 4096)
    os.close(master)  # the user's terminal window closes
    for _ in range(600):
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise AssertionError("ketch run -it did not end when its terminal closed")
    assert kt.ok("ps", "-aq") == ""  # --rm cleaned up
