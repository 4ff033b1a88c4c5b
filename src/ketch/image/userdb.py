"""Resolving ``Config.User`` through the image's own /etc/passwd and /etc/group (conversion.md)."""

from __future__ import annotations

import errno
import os

from ketch._common.model import field, model
from ketch.image.errors import ConvertError
from ketch.linux.fd import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2

__all__ = ["ResolvedUser", "read_in_root", "resolve_user"]

_MAX_DB = 4 << 20


def read_in_root(rootfs: str, path: str) -> bytes | None:
    """Read ``path`` of the container's rootfs, resolving every symlink inside it; None when absent.

    An image's /etc/passwd may be a symlink to ``/etc/shadow`` or ``../../../etc/shadow``: resolved in the
    root it can only reach the image's own files (CVE-2019-16884 class: host files read through image links).
    """
    rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fd = openat2(
                rootfd, path, os.O_RDONLY | os.O_NOCTTY, resolve=RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
            )
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise
        with os.fdopen(fd, "rb") as f:
            return f.read(_MAX_DB)
    finally:
        os.close(rootfd)


@model(frozen=True)
class ResolvedUser:
    uid: int
    gid: int
    additional_gids: list[int] | None = field(default=None)


def _table(data: bytes | None) -> list[list[str]]:
    rows = []
    for line in (data or b"").decode("utf-8", "replace").splitlines():
        if line and not line.startswith("#"):
            rows.append(line.split(":"))
    return rows


def _num(s: str) -> int | None:
    return int(s) if s.isdigit() else None


def resolve_user(rootfs: str, spec: str | None) -> ResolvedUser:
    """``user``, ``uid``, ``user:group``, ``uid:gid``, ``user:gid``, ``uid:group``; empty means root."""
    if not spec:
        return ResolvedUser(0, 0)
    user, sep, group = spec.partition(":")
    if not user or (sep and not group):
        raise ConvertError(f"invalid Config.User {spec!r}")
    passwd = [r for r in _table(read_in_root(rootfs, "/etc/passwd")) if len(r) >= 4]
    uid = _num(user)
    gid: int | None = None
    name: str | None = None
    if uid is None:
        for r in passwd:
            if r[0] == user and _num(r[2]) is not None:
                uid, gid, name = int(r[2]), _num(r[3]), r[0]
                break
        else:
            raise ConvertError(f"Config.User {spec!r}: no user {user!r} in the image's /etc/passwd")
    else:
        for r in passwd:
            if _num(r[2]) == uid:
                gid, name = _num(r[3]), r[0]
                break
    groups = [r for r in _table(read_in_root(rootfs, "/etc/group")) if len(r) >= 3]
    if sep:
        g = _num(group)
        if g is None:
            for r in groups:
                if r[0] == group and _num(r[2]) is not None:
                    g = int(r[2])
                    break
            else:
                raise ConvertError(f"Config.User {spec!r}: no group {group!r} in the image's /etc/group")
        # conversion.md: additionalGids untouched when a group is given
        return ResolvedUser(uid, g)
    if _num(user) is not None:
        return ResolvedUser(uid, gid if gid is not None else 0)
    extra = sorted(
        {int(r[2]) for r in groups if len(r) >= 4 and name in r[3].split(",") and _num(r[2]) is not None}
        - ({gid} if gid is not None else set())
    )
    return ResolvedUser(uid, gid if gid is not None else 0, extra or None)
