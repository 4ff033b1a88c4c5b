"""process.rlimits: setrlimit for each entry, with errors that name the entry."""

from __future__ import annotations

import errno
import resource

from ketch.spec.runtime import RLIMITS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["apply_rlimits", "check_rlimits"]

_INF = 0xFFFFFFFFFFFFFFFF


def _value(v: int) -> int:
    return resource.RLIM_INFINITY if v == _INF else v


def check_rlimits(rlimits: list[dict[str, Any]], can_raise: bool) -> None:
    """Refuse, before anything is built, a hard limit above ours when we cannot raise hard limits
    (CAP_SYS_RESOURCE missing)."""
    if can_raise:
        return
    for i, rl in enumerate(rlimits):
        _soft, hard = resource.getrlimit(RLIMITS[rl["type"]])
        want = _value(rl["hard"])
        if hard != resource.RLIM_INFINITY and (want == resource.RLIM_INFINITY or want > hard):
            raise PermissionError(
                errno.EPERM,
                f"process.rlimits[{i}]: {rl['type']} hard limit {rl['hard']} is above the current hard limit "
                f"{hard} and raising it needs CAP_SYS_RESOURCE",
            )


def apply_rlimits(rlimits: list[dict[str, Any]]) -> None:
    for i, rl in enumerate(rlimits):
        try:
            resource.setrlimit(RLIMITS[rl["type"]], (_value(rl["soft"]), _value(rl["hard"])))
        except (OSError, ValueError) as exc:
            raise OSError(errno.EPERM, f"process.rlimits[{i}] ({rl['type']}): {exc}") from exc
