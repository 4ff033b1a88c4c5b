"""v1 freezer controller: freezer.state FROZEN / THAWED (pause and resume)."""

from __future__ import annotations

import time

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.errors import CgroupBusyError

HIERARCHY = "freezer"
_STATES = {"THAWED": "thawed", "FROZEN": "frozen", "FREEZING": "freezing"}


def state(path: str) -> str:
    text = fsio.read_text(path, "freezer.state").strip()
    return _STATES.get(text, text.lower())


def _settle(path: str, want: str, attempts: int) -> bool:
    delay = 0.001
    for _ in range(attempts):
        fsio.write(path, "freezer.state", want, "freezer.state")
        if fsio.read_text(path, "freezer.state").strip() == want:
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return False


def freeze(path: str, attempts: int = 60) -> None:
    """Freeze every task; a cgroup stuck in FREEZING (a task in uninterruptible sleep) is thawed again."""
    if not _settle(path, "FROZEN", attempts):
        _settle(path, "THAWED", attempts)
        raise CgroupBusyError(f"cgroup {path} did not freeze (a task is stuck in uninterruptible sleep)")


def thaw(path: str, attempts: int = 60) -> None:
    if not _settle(path, "THAWED", attempts):
        raise CgroupBusyError(f"cgroup {path} did not thaw")
