"""Waiting for OOM events, for ``events``: v1 registers an eventfd on memory.oom_control through
cgroup.event_control (the kernel signals it on every OOM in the cgroup); v2 polls memory.events, which the
kernel marks changed (POLLPRI) when a counter moves, and compares its ``oom_kill`` count (re-read at least
once a second, so a missed wake-up only delays an event)."""

from __future__ import annotations

import os
import select

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.errors import CgroupError

__all__ = ["OomWatch"]


class OomWatch:
    """``wait(timeout)`` returns True once per OOM seen (a kill on v2; any OOM on v1), False on timeout."""

    def __init__(self, memory_dir: str, mode: str) -> None:
        self.memory_dir = memory_dir
        self.mode = mode
        self._fds: list[int] = []
        self._count = self._kills()
        self._poll = select.poll()
        try:
            if mode == "v2":
                fd = os.open(os.path.join(memory_dir, "memory.events"), os.O_RDONLY | os.O_CLOEXEC)
                self._fds.append(fd)
                self._poll.register(fd, select.POLLPRI | select.POLLERR)
            else:
                control = os.open(os.path.join(memory_dir, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
                self._fds.append(control)
                efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
                self._fds.append(efd)
                fsio.write(memory_dir, "cgroup.event_control", f"{efd} {control}", "cgroup.event_control")
                self._eventfd = efd
                self._poll.register(efd, select.POLLIN)
        except (OSError, CgroupError) as exc:
            self.close()
            raise CgroupError(f"cannot watch {memory_dir} for OOM events: {exc}") from None

    def _kills(self) -> int:
        name = "memory.events" if self.mode == "v2" else "memory.oom_control"
        return fsio.read_keyed(self.memory_dir, name).get("oom_kill", 0)

    def fileno(self) -> int:
        """The fd to add to a selector (v1: readable; v2: POLLPRI) to wait alongside other things."""
        return self._fds[-1]

    def wait(self, timeout: float | None = None) -> bool:
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if not os.path.isdir(self.memory_dir):
                return False  # the cgroup is gone
            if self.mode == "v2":
                count = self._kills()
                if count > self._count:
                    self._count = count
                    return True
            left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if left <= 0:
                return False
            ready = self._poll.poll(int(left * 1000))
            if not ready:
                continue
            if self.mode == "v2":
                os.lseek(self._fds[0], 0, os.SEEK_SET)
                os.read(self._fds[0], 4096)  # reading re-arms the change notification
                continue
            try:
                os.eventfd_read(self._eventfd)
            except BlockingIOError:
                continue
            return True

    def close(self) -> None:
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []

    def __enter__(self) -> OomWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
