"""Start the cgroup attach lock's RCU grace period early, in the background.

The first process moved between cgroups after a quiet spell waits for an RCU grace period: the kernel's
``cgroup_threadgroup_rwsem`` is a percpu rwsem whose writer must first switch readers to the slow path
(several milliseconds on a small VM). Once switched it stays so for about one more grace period. Moving
ourselves into the cgroup we are already in is a no-op that takes the same lock, so doing it on a
background thread at the start of ``create`` lets the grace period run while the runtime parses the config
and forks; the container's real move then finds the lock already switched.
"""

from __future__ import annotations

import os

__all__ = ["warm_attach_lock"]


def _move_self() -> None:
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
        for line in lines:
            _id, controllers, path = line.split(":", 2)
            if controllers == "pids" or (controllers == "" and len(lines) == 1):
                base = "/sys/fs/cgroup/pids" if controllers == "pids" else "/sys/fs/cgroup"
                fd = os.open(f"{base}{path.rstrip('/')}/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, str(os.getpid()).encode())
                finally:
                    os.close(fd)
                return
    except (OSError, ValueError):
        pass  # only an optimisation: the real attach works the same without it


def warm_attach_lock() -> None:
    """Fire and forget; the thread's work is one write(2) that releases the GIL while it waits."""
    import _thread

    _thread.start_new_thread(_move_self, ())
