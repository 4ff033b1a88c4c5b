"""send_notify_fd / receive_notify_fd over a real unix socket, with a pipe standing in for the seccomp fd."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from ketch.runtime.seccomp import SeccompNotifyError, receive_notify_fd, send_notify_fd


def test_state_and_fd_arrive(tmp_path: Path) -> None:
    path = str(tmp_path / "agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    got: dict[str, Any] = {}

    def agent() -> None:
        conn, _ = server.accept()
        with conn:
            got["fd"], got["msg"] = receive_notify_fd(conn)

    t = threading.Thread(target=agent)
    t.start()
    r, w = os.pipe()
    state = {"ociVersion": "1.2.0", "id": "c1", "status": "creating", "pid": 4422, "bundle": "/b",
             "annotations": {"k": "v" * 100000}}  # big enough to need several reads
    try:
        send_notify_fd(path, w, json.dumps(state).encode(), "MKNOD=/dev/null")
        t.join(10)
        msg = got["msg"]
        assert msg == {"ociVersion": "1.2.0", "fds": ["seccompFd"], "pid": 4422, "metadata": "MKNOD=/dev/null", "state": state}
        os.write(got["fd"], b"through")  # the received fd is the same pipe
        assert os.read(r, 16) == b"through"
        os.close(got["fd"])
    finally:
        server.close()
        os.close(r)
        os.close(w)


def test_errors_name_the_listener(tmp_path: Path) -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(SeccompNotifyError, match=r"agent\.sock"):
            send_notify_fd(str(tmp_path / "agent.sock"), w, b'{"pid": 1}')
        with pytest.raises(SeccompNotifyError, match="not JSON"):
            send_notify_fd(str(tmp_path / "agent.sock"), w, b"{")
        with pytest.raises(SeccompNotifyError, match="no pid"):
            send_notify_fd(str(tmp_path / "agent.sock"), w, b"{}")
    finally:
        os.close(r)
        os.close(w)
