"""Pseudo-terminals opened inside a container's devpts, and passing fds over unix sockets."""

from __future__ import annotations

import array
import fcntl
import os
import socket
import struct
import termios

__all__ = ["open_pty", "recv_fd", "send_fd", "set_controlling_tty"]

_TIOCSPTLCK = 0x40045431
_TIOCGPTN = 0x80045430


def open_pty(ptmx: str = "/dev/ptmx") -> tuple[int, int]:
    """Open a new pty pair from ``ptmx``: (master, slave), both close-on-exec."""
    master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
        number = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0\0\0\0"))[0]
        pts_dir = os.path.join(os.path.dirname(ptmx), "pts") if not ptmx.endswith("pts/ptmx") else os.path.dirname(ptmx)
        slave = os.open(os.path.join(pts_dir, str(number)), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except BaseException:
        os.close(master)
        raise
    return master, slave


def set_controlling_tty(fd: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)


def send_fd(sock_fd: int, fd: int, payload: bytes) -> None:
    """Send ``fd`` with ``payload`` (must be non-empty) over the connected unix socket ``sock_fd``."""
    sock = socket.socket(fileno=sock_fd)
    try:
        sock.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]).tobytes())])
    finally:
        sock.detach()


def recv_fd(sock_fd: int, bufsize: int = 4096) -> tuple[bytes, int]:
    """Receive (payload, fd) sent by :func:`send_fd`; fd is -1 if none came."""
    sock = socket.socket(fileno=sock_fd)
    try:
        fds = array.array("i")
        msg, ancdata, _flags, _addr = sock.recvmsg(bufsize, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
        return msg, (fds[0] if fds else -1)
    finally:
        sock.detach()
