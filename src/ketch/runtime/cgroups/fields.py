"""Typed access to a runtime-spec ``linux.resources`` dict (camelCase as in config.json).

Every bad value is a CgroupConfigError naming the full field (``linux.resources.memory.limit``).
"""

from __future__ import annotations

from ketch.runtime.cgroups.errors import CgroupConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Resources = dict[str, Any]
    Warn = Callable[[str], None]

__all__ = ["PREFIX", "opt_bool", "opt_dict", "opt_int", "opt_list", "opt_str", "unset_if_zero"]

PREFIX = "linux.resources"


def unset_if_zero(v: int | None) -> int | None:
    """runc treats 0 as "not set" for limits (a zero limit is never meant)."""
    return None if v == 0 else v


def opt_dict(d: dict[str, Any], key: str, field: str) -> dict[str, Any]:
    v = d.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise CgroupConfigError(f"{field}.{key}: expected an object, got {type(v).__name__}")
    return v


def opt_list(d: dict[str, Any], key: str, field: str) -> list[Any]:
    v = d.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise CgroupConfigError(f"{field}.{key}: expected an array, got {type(v).__name__}")
    return v


def opt_int(
    d: dict[str, Any], key: str, field: str, *, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise CgroupConfigError(f"{field}.{key}: expected an integer, got {v!r}")
    if minimum is not None and v < minimum:
        raise CgroupConfigError(f"{field}.{key}: {v} is below the minimum {minimum}")
    if maximum is not None and v > maximum:
        raise CgroupConfigError(f"{field}.{key}: {v} is above the maximum {maximum}")
    return v


def opt_bool(d: dict[str, Any], key: str, field: str) -> bool | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, bool):
        raise CgroupConfigError(f"{field}.{key}: expected true or false, got {v!r}")
    return v


def opt_str(d: dict[str, Any], key: str, field: str) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise CgroupConfigError(f"{field}.{key}: expected a string, got {v!r}")
    return v
