"""What every cgroup manager does the same way, whatever the hierarchy: directories, pids, state.

A manager is a small table of operations (create, apply, add_pid, freeze, stats, destroy, ...); the v1 and v2
managers fill in the parts that differ.
"""

from __future__ import annotations

import errno
import os

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.errors import CgroupBusyError, CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources
    from ketch.runtime.cgroups.oomwatch import OomWatch

__all__ = ["Manager"]


def _mkdirs(path: str, made: list[str]) -> None:
    """mkdir -p, recording each directory this call created (outermost first)."""
    missing = []
    cur = path
    while not os.path.isdir(cur):
        missing.append(cur)
        parent = os.path.dirname(cur)
        if parent == cur:
            break
        cur = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o755)
        except FileExistsError:
            continue
        except OSError as exc:
            raise CgroupError(f"cannot create cgroup {d}: {exc.strerror}") from None
        made.append(d)


def _read_pids(directory: str) -> list[int]:
    try:
        with open(os.path.join(directory, "cgroup.procs"), encoding="ascii") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CgroupError(f"cannot read {directory}/cgroup.procs: {exc.strerror}") from None


def _subdirs_bottom_up(top: str) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, _ in os.walk(top, topdown=False):
        out.extend(os.path.join(dirpath, d) for d in dirnames)
    return out


class Manager:
    """The cgroup of one container. ``paths`` maps controller -> directory (v2: ``{"": dir}``)."""

    mode = ""

    def __init__(
        self,
        paths: dict[str, str],
        created: list[str] | None = None,
        mountpoints: dict[str, str] | None = None,
    ) -> None:
        self.paths = dict(paths)
        self.created = list(created or [])
        # controller -> where its hierarchy is mounted on the host (for the container's /sys/fs/cgroup)
        self.mountpoints = dict(mountpoints or {})
        self.warnings: list[str] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.paths!r})"

    # -- helpers -------------------------------------------------------------------------------------------
    def _dirs(self) -> list[str]:
        """Each distinct directory once (comounted controllers share one), in a stable order."""
        return sorted(set(self.paths.values()))

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        import logging

        logging.getLogger("ketch.runtime.cgroups").warning("%s", message)

    def _setup_new(self, made: list[str]) -> None:
        """After mkdir: whatever a new cgroup needs before a task can join it (v1 cpuset, v2 controllers)."""

    def _pids_dir(self) -> str:
        return self._dirs()[0]

    # -- the operations ------------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """What a later invocation needs to rebuild this manager (new_manager_from_state)."""
        return {
            "mode": self.mode,
            "paths": dict(self.paths),
            "created": list(self.created),
            "mountpoints": dict(self.mountpoints),
        }

    def cgroup_mounts(self) -> list[tuple[str, str, str]]:
        """(name, host mount point, the container's cgroup dir) for each hierarchy, comounts once.

        ``name`` is the mount point's last component (``cpu,cpuacct``, ``memory``, ``systemd``; ``""`` for a
        v2 tree): where the runtime mounts that hierarchy under the container's /sys/fs/cgroup.
        """
        seen: dict[str, tuple[str, str, str]] = {}
        for controller, directory in sorted(self.paths.items()):
            mountpoint = self.mountpoints.get(controller, "")
            if directory in seen:
                continue
            name = os.path.basename(mountpoint) if self.mode != "v2" else ""  # hybrid: "unified"
            seen[directory] = (name, mountpoint, directory)
        return sorted(seen.values())

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self._dirs())

    def create(self) -> None:
        """Make the cgroup directories; on any failure, remove the ones made so far and raise."""
        made: list[str] = []
        try:
            for d in self._dirs():
                _mkdirs(d, made)
            self._setup_new(made)
        except BaseException:
            for d in reversed(made):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            raise
        self.created.extend(made)

    def apply(self, resources: Resources | None, *, default_devices: bool = True) -> None:
        """Write linux.resources; device rules get the default allowed devices appended (as runc)."""
        raise NotImplementedError

    def update(self, resources: Resources, *, default_devices: bool = True) -> None:
        """Change the resources of a running container: only the fields present are written (devices only
        when ``devices`` is present, then with the defaults appended as in apply)."""
        self.apply(resources, default_devices=default_devices and "devices" in (resources or {}))

    def add_pid(self, pid: int) -> None:
        """Move ``pid`` into the cgroup (cgroup.procs of every hierarchy)."""
        for d in self._dirs():
            try:
                fd = os.open(os.path.join(d, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, str(pid).encode())
                finally:
                    os.close(fd)
            except OSError as exc:
                raise CgroupError(f"cannot move process {pid} into cgroup {d}: {exc.strerror}") from None

    def pids(self, recursive: bool = True) -> list[int]:
        """The processes in the cgroup (and, with ``recursive``, in its child cgroups)."""
        top = self._pids_dir()
        dirs = [top, *_subdirs_bottom_up(top)] if recursive and os.path.isdir(top) else [top]
        out: list[int] = []
        for d in dirs:
            out.extend(_read_pids(d))
        return sorted(set(out))

    def freeze(self) -> None:
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def freezer_state(self) -> str:
        raise NotImplementedError

    def _signal_each(self, sig: int) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue

    def kill_all(self, sig: int) -> None:
        """Send ``sig`` to every process; frozen first where possible, so none can fork away meanwhile."""
        try:
            self.freeze()
        except CgroupError:
            self._signal_each(sig)
            return
        try:
            self._signal_each(sig)
        finally:
            self.thaw()

    def stats(self) -> dict[str, Any]:
        raise NotImplementedError

    def oom_kill_count(self) -> int:
        raise NotImplementedError

    def oom_watch(self) -> OomWatch:
        """An OomWatch on this cgroup's memory controller (``events``: one "oom" event per ``wait()``)."""
        from ketch.runtime.cgroups.oomwatch import OomWatch

        directory = self.paths.get("memory") if self.mode != "v2" else self.paths.get("")
        if directory is None or not os.path.isdir(directory):
            raise CgroupError("the memory cgroup controller is not available: cannot watch for OOM events")
        return OomWatch(directory, "v2" if self.mode == "v2" else "v1")

    def wait_empty(self, timeout: float = 1.0) -> bool:
        """Wait up to ``timeout`` seconds for every process to leave (e.g. after kill_all(SIGKILL))."""
        import time

        deadline = time.monotonic() + timeout
        delay = 0.001
        while self.pids():
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True

    def destroy(self, timeout: float = 1.0) -> None:
        """Remove the cgroup (and any child cgroups) once its processes are gone.

        Processes still exiting get ``timeout`` seconds; then CgroupBusyError. EBUSY from tasks the kernel
        has not finished with is retried briefly. Parent directories this manager created are removed too
        when nothing else uses them.
        """
        # The common case first: an empty cgroup without children goes with one rmdir. The kernel refuses
        # (EBUSY) while processes or child cgroups remain, so trying is safe; those take the careful path.
        remaining = []
        for d in self._dirs():
            try:
                os.rmdir(d)
            except FileNotFoundError:
                continue
            except OSError:
                remaining.append(d)
        if remaining:
            self.wait_empty(timeout)
        errors = []
        for d in remaining:
            if not os.path.isdir(d):
                continue
            live = [p for sub in (d, *_subdirs_bottom_up(d)) for p in _read_pids(sub)]
            if live:
                # fail at once: retrying only helps tasks that have already exited
                raise CgroupBusyError(f"cannot remove cgroup {d}: it still has processes {sorted(live)}")
            try:
                for sub in _subdirs_bottom_up(d):
                    fsio.rmdir_retrying(sub)
                fsio.rmdir_retrying(d)
            except CgroupError as exc:
                errors.append(str(exc))
        if errors:
            raise CgroupError("; ".join(errors))
        leaves = set(self._dirs())
        for d in sorted(set(self.created) - leaves, key=len, reverse=True):
            try:
                os.rmdir(d)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY):
                    raise CgroupError(f"cannot remove cgroup {d}: {exc.strerror}") from None
        self.created = []
