"""v2 freezer (core, no controller to enable): cgroup.freeze, and cgroup.events ``frozen`` to wait on."""

from __future__ import annotations

import time

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.errors import CgroupBusyError, CgroupError


def state(path: str) -> str:
    if not fsio.exists(path, "cgroup.freeze"):
        raise CgroupError(f"cgroup {path} has no cgroup.freeze (the kernel is older than 5.2)")
    wanted = fsio.read_text(path, "cgroup.freeze").strip() == "1"
    frozen = fsio.read_keyed(path, "cgroup.events").get("frozen", 0) == 1
    if frozen:
        return "frozen"
    return "freezing" if wanted else "thawed"


def _set(path: str, value: str, want_frozen: bool, attempts: int) -> bool:
    if not fsio.exists(path, "cgroup.freeze"):
        raise CgroupError(f"cgroup {path} has no cgroup.freeze (the kernel is older than 5.2)")
    fsio.write(path, "cgroup.freeze", value, "cgroup.freeze")
    delay = 0.001
    for _ in range(attempts):
        if (fsio.read_keyed(path, "cgroup.events").get("frozen", 0) == 1) == want_frozen:
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return False


def freeze(path: str, attempts: int = 60) -> None:
    if not _set(path, "1", True, attempts):
        _set(path, "0", False, attempts)
        raise CgroupBusyError(f"cgroup {path} did not freeze")


def thaw(path: str, attempts: int = 60) -> None:
    if not _set(path, "0", False, attempts):
        raise CgroupBusyError(f"cgroup {path} did not thaw")
