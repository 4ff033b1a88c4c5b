"""Atomic file writes and advisory locks.

Every piece of on-disk state in ketch goes through :func:`write_atomic`: the data is written to a temporary
file in the same directory, flushed to disk, then renamed over the target and the directory is synced. A crash
at any point leaves either the old file or the new one, never a mix.
"""

from __future__ import annotations

import os

__all__ = ["FileLock", "fsync_dir", "write_atomic"]


def fsync_dir(path: str) -> None:
    """Flush a directory entry change (create, rename, unlink) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, mode: int = 0o644, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically.

    ``durable=False`` skips the fsyncs: still atomic against a crash of the process (rename is atomic), but
    not against a crash of the machine. It is meant for state on tmpfs (``/run``), where fsync buys nothing.
    """
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    os.close(fd)
    try:
        os.rename(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    if durable:
        fsync_dir(directory)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class FileLock:
    """An exclusive ``flock`` on a file, held for the life of a ``with`` block.

    The lock file is created if missing and never removed by the lock itself, so two processes can never hold
    locks on two different inodes of the same name.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1

    def acquire(self, blocking: bool = True) -> bool:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
