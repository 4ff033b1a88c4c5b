"""The collection lock: garbage collection holds it exclusively while it marks and sweeps; writers that make
a blob newly referenced (manifest push, mount, upload completion) hold it shared. flock(2) locks belong to open
file descriptions, so this works between threads of one process and between processes on one host."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

__all__ = ["CollectionLock"]


class CollectionLock:
    def __init__(self, path: str | None) -> None:
        self.path = path
        if path is not None:
            os.makedirs(os.path.dirname(path), exist_ok=True)

    @contextmanager
    def _hold(self, mode: int) -> Iterator[None]:
        if self.path is None:
            yield
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    def shared(self) -> AbstractContextManager[None]:
        return self._hold(fcntl.LOCK_SH)

    def exclusive(self) -> AbstractContextManager[None]:
        return self._hold(fcntl.LOCK_EX)
