"""One end of the setup socketpair: send and receive the messages of :mod:`.messages`."""

from __future__ import annotations

import os

from ketch._common import fastjson as json
from ketch.runtime.process.messages import ERROR, UnexpectedMessage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Channel", "ChannelClosed", "RemoteError", "socketpair"]

_MAX = 1 << 20


class ChannelClosed(Exception):
    """The other side exited without saying why."""


class RemoteError(Exception):
    """The other side reported a failure (an ERROR message)."""


def socketpair() -> tuple[int, int]:
    """A close-on-exec SOCK_SEQPACKET pair, as raw fds (the C module avoids importing socket.py)."""
    import _socket

    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    return a.detach(), b.detach()


class Channel:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, kind: str, **fields: Any) -> None:
        fields["t"] = kind
        os.write(self.fd, json.dumps(fields).encode())

    def send_fd(self, kind: str, fd: int) -> None:
        """Send a message with ``fd`` attached (SCM_RIGHTS)."""
        from ketch.linux.term import send_fd

        send_fd(self.fd, fd, json.dumps({"t": kind}).encode())

    def recv_fd(self, expected: str) -> int:
        """Receive a message sent by :meth:`send_fd`; returns the fd."""
        from ketch.linux.term import recv_fd

        raw, fd = recv_fd(self.fd, _MAX)
        if not raw:
            raise ChannelClosed(f"container setup: the other side exited while we waited for {expected!r}")
        msg = json.loads(raw)
        if msg.get("t") == ERROR:
            raise RemoteError(msg.get("msg", "unknown error"))
        if msg.get("t") != expected or fd < 0:
            if fd >= 0:
                os.close(fd)
            raise UnexpectedMessage(expected, msg.get("t", ""))
        return fd

    def send_error(self, message: str) -> None:
        try:
            self.send(ERROR, msg=message)
        except OSError:
            pass

    def recv(self, expected: str) -> dict[str, Any]:
        """The next message, which must be ``expected`` (an ERROR raises RemoteError)."""
        try:
            raw = os.read(self.fd, _MAX)
        except ConnectionResetError:
            raw = b""
        if not raw:
            raise ChannelClosed(f"container setup: the other side exited while we waited for {expected!r}")
        msg: dict[str, Any] = json.loads(raw)
        kind = msg.get("t", "")
        if kind == ERROR:
            raise RemoteError(msg.get("msg", "unknown error"))
        if kind != expected:
            raise UnexpectedMessage(expected, kind)
        return msg

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
