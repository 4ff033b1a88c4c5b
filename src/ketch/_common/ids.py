"""Validation of the names users give to things: container ids and repository names."""

from __future__ import annotations

__all__ = ["InvalidName", "validate_container_id", "validate_repository_name"]

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")
_MAX_ID = 1024


class InvalidName(ValueError):
    """A user-supplied name does not have the required form."""


def validate_container_id(value: str) -> str:
    """Check a container id as runc does: letters, digits and ``_+-.``, not ``.`` or ``..``.

    The id becomes a directory name under the state root, so anything that could leave that directory
    (``/``, ``..``) is refused.
    """
    if not value:
        raise InvalidName("container id must not be empty")
    if len(value) > _MAX_ID:
        raise InvalidName(f"container id is longer than {_MAX_ID} characters")
    if value in (".", "..") or not set(value) <= _ID_CHARS:
        raise InvalidName(f"invalid container id {value!r}: use letters, digits and _+-. only")
    return value


def _is_lower_alnum(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("0" <= ch <= "9")


def validate_repository_name(value: str) -> str:
    """Check a repository name against distribution-spec's grammar.

    ``[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*``
    """
    if not value or len(value) > 255:
        raise InvalidName(f"invalid repository name {value!r}: must be 1 to 255 characters")
    for component in value.split("/"):
        if not _valid_component(component):
            raise InvalidName(
                f"invalid repository name {value!r}: component {component!r} must be lowercase letters and "
                "digits separated by '.', '_', '__' or dashes"
            )
    return value


def _valid_component(component: str) -> bool:
    if not component or not _is_lower_alnum(component[0]) or not _is_lower_alnum(component[-1]):
        return False
    i = 0
    n = len(component)
    while i < n:
        ch = component[i]
        if _is_lower_alnum(ch):
            i += 1
            continue
        # a separator run: '.', '_', '__' or one or more '-'
        j = i
        if ch == ".":
            j = i + 1
        elif ch == "_":
            j = i + 2 if component.startswith("__", i) else i + 1
        elif ch == "-":
            while j < n and component[j] == "-":
                j += 1
        else:
            return False
        if j >= n or not _is_lower_alnum(component[j]):
            return False
        i = j
    return True
