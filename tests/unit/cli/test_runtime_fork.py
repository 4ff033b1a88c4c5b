"""ketch.cli.runtime_fork: ketch-runtime run in a fork of the ketch process behaves like the executed binary."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ketch.cli import runtime_fork
from ketch.cli.launcher import install
from ketch.cli.runtime_fork import ForkedRuntime, is_own_launcher, spawn


@pytest.fixture
def launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    # Threads other tests leave behind (servers, pools) would make spawn execute instead of fork;
    # test_other_threads_mean_exec checks that rule itself.
    monkeypatch.setattr(runtime_fork, "_other_threads", lambda: False)
    return install(str(tmp_path), sys.executable)


def test_only_our_own_launcher_is_forked(tmp_path: Path, launcher: str) -> None:
    assert is_own_launcher(launcher)
    other = tmp_path / "other"
    other.mkdir()
    assert not is_own_launcher(install(str(other), "/usr/bin/python3-elsewhere"))  # another interpreter
    ketch = install(str(other), sys.executable, "ketch")
    assert not is_own_launcher(ketch)  # a launcher of another program
    assert not is_own_launcher("/bin/true")
    assert not is_own_launcher(str(tmp_path / "missing"))
    assert not isinstance(spawn(["/bin/true"]), ForkedRuntime)


def test_forked_runtime_output_and_exit_code(tmp_path: Path, launcher: str) -> None:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = spawn([launcher, "--version"], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        assert isinstance(proc, ForkedRuntime)
        assert proc.wait(timeout=30) == 0
        out.seek(0)
        assert out.read().decode().startswith("ketch-runtime version ")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = spawn([launcher, "--root", str(tmp_path / "state"), "state", "nope"], stdout=out, stderr=err)
        assert proc.wait() != 0
        err.seek(0)
        assert "nope" in err.read().decode()
    # the same as executing the launcher
    executed = subprocess.run([launcher, "--root", str(tmp_path / "state"), "state", "nope"], capture_output=True)
    assert executed.returncode == proc.returncode


def test_child_holds_only_its_standard_streams(tmp_path: Path, launcher: str) -> None:
    fifo = tmp_path / "log"
    os.mkfifo(fifo)
    held = open(tmp_path / "parent-file", "w")  # noqa: SIM115 - open across the fork on purpose
    try:
        with tempfile.TemporaryFile() as err:
            # the error is logged to the FIFO: the child blocks in open() until we read, time to look at it
            proc = spawn([launcher, "--log", str(fifo), "--root", str(tmp_path / "s"), "state", "nope"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
            assert isinstance(proc, ForkedRuntime)
            # once blocked, the child holds its three streams and nothing of ours (held, pytest's files...)
            deadline = time.monotonic() + 30
            fds: list[int] = []
            while time.monotonic() < deadline and proc.poll() is None:
                fds = sorted(int(n) for n in os.listdir(f"/proc/{proc.pid}/fd"))
                if fds == [0, 1, 2]:
                    break
                time.sleep(0.01)
            assert fds == [0, 1, 2]
            with open(fifo) as f:
                assert "nope" in f.read()
            assert proc.wait(timeout=30) != 0
    finally:
        held.close()


def test_wait_timeout_and_signals(tmp_path: Path, launcher: str) -> None:
    fifo = tmp_path / "log"
    os.mkfifo(fifo)
    proc = spawn([launcher, "--log", str(fifo), "--root", str(tmp_path / "s"), "state", "nope"],
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=0.2)  # blocked opening the FIFO
    proc.send_signal(15)
    assert proc.wait(timeout=30) == -15
    assert proc.poll() == -15


def test_other_threads_mean_exec(tmp_path: Path) -> None:
    import threading

    launcher = install(str(tmp_path), sys.executable)
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    try:
        assert runtime_fork._other_threads()
        proc = spawn([launcher, "--version"], stdout=subprocess.DEVNULL)
        assert isinstance(proc, subprocess.Popen)
        assert proc.wait() == 0
    finally:
        release.set()
        worker.join()
    if threading.active_count() == 1:  # unless earlier tests left threads running
        assert not runtime_fork._other_threads()
