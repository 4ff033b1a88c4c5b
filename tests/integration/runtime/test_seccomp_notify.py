"""SCMP_ACT_NOTIFY end to end: the child loads a filter with a listener, hands the fd to the parent (as the
init does to the runtime), the parent sends it with the container process state to an agent on a unix socket
(``send_notify_fd``), and the agent answers the notified system calls with ioctl NOTIF_RECV / NOTIF_SEND.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from ketch.linux.seccomp import notif_id_valid, notif_recv, notif_send
from ketch.runtime.seccomp import prepare, receive_notify_fd, send_notify_fd
from ketch.testing import busybox_path
from ketch.testing.seccomp import run_under_filter

pytestmark = pytest.mark.root

_MKDIR_NRS = {"x86_64": {83, 258}, "aarch64": {34}}[os.uname().machine]  # mkdir, mkdirat


class Agent(threading.Thread):
    """A seccomp agent: accepts one connection, takes the fd, answers ``len(answers)`` notifications."""

    def __init__(self, path: str, answers: list[tuple[int, int]]) -> None:
        super().__init__(daemon=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.server.settimeout(30)
        self.answers = answers
        self.message: dict[str, Any] = {}
        self.seen: list[tuple[int, int]] = []  # (syscall nr, pid)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            conn, _ = self.server.accept()
            with conn:
                fd, self.message = receive_notify_fd(conn)
            try:
                for val, err in self.answers:
                    n = notif_recv(fd)
                    self.seen.append((n.nr, n.pid))
                    assert notif_id_valid(fd, n.id)
                    notif_send(fd, n.id, val=val, error=err)
            finally:
                os.close(fd)
        except BaseException as e:
            self.error = e
        finally:
            self.server.close()


def test_notify_agent_answers_the_syscall(tmp_path: Path) -> None:
    bb = busybox_path()
    listener = str(tmp_path / "agent.sock")
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": listener,
        "listenerMetadata": "MKDIR=fake",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    }
    prog = prepare(spec, None)
    assert prog.notify and prog.listener_path == listener and prog.listener_metadata == "MKDIR=fake"
    # first mkdir: the agent says "done" without doing it; second: the agent refuses with EROFS
    agent = Agent(listener, [(0, 0), (0, -errno.EROFS)])
    agent.start()
    a, b = tmp_path / "a", tmp_path / "b"
    state: dict[str, Any] = {}

    def hand_over(fd: int, pid: int) -> None:
        state.update(ociVersion="1.2.0", id="notify-test", status="creating", pid=pid, bundle=str(tmp_path))
        send_notify_fd(listener, fd, json.dumps(state).encode(), prog.listener_metadata)

    r = run_under_filter(
        prog.bpf,
        prog.flags,
        [bb, "sh", "-c", f"{bb} mkdir {a}; echo rc=$?; {bb} mkdir {b}; echo rc=$?"],
        on_listener=hand_over,
    )
    agent.join(30)
    assert agent.error is None, agent.error
    assert r.exit_code == 0, r
    assert r.stdout.splitlines() == ["rc=0", "rc=1"], r
    assert os.strerror(errno.EROFS) in r.stderr, r
    assert not a.exists() and not b.exists()  # the agent answered; the kernel never ran either call
    assert {nr for nr, _ in agent.seen} <= _MKDIR_NRS and len(agent.seen) == 2
    msg = agent.message
    assert msg["fds"] == ["seccompFd"]
    assert msg["pid"] == state["pid"] and msg["metadata"] == "MKDIR=fake"
    assert msg["state"]["id"] == "notify-test" and msg["state"]["status"] == "creating"
    assert msg["ociVersion"] == "1.2.0"
