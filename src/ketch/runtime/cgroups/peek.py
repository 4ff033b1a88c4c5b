"""Cheap looks at a container's cgroup from its saved state (``Manager.to_state()``), for commands like
``state`` and ``list`` that run often and must not load the managers."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["is_frozen"]


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def is_frozen(state: dict[str, Any]) -> bool:
    """Whether the container's processes are frozen (paused): the v1 freezer if it has one, else cgroup2's
    cgroup.freeze (as the managers decide)."""
    paths: dict[str, str] = state.get("paths", {})
    if "freezer" in paths:
        return _read(paths["freezer"] + "/freezer.state") == "FROZEN"
    unified = paths.get("")
    if unified:
        return _read(unified + "/cgroup.freeze") == "1"
    return False
