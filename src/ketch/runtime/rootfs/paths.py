"""Safe paths inside a root that is not yet ours: every lookup stays below the root.

Mount targets are opened with openat2(RESOLVE_IN_ROOT) and mounted on through their /proc/self/fd magic link,
so a symlink planted in the image (``/proc -> /etc``, ``/x -> ../../../host``) resolves inside the rootfs and
can never redirect a mount onto the host (CVE-2021-30465 and the symlink races of that class).
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

from ketch.linux.fd import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2

__all__ = ["ensure_in_root", "open_in_root"]

_RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS


def open_in_root(rootfd: int, path: str, flags: int = os.O_PATH) -> int:
    """Open ``path`` (absolute or relative, taken from the root) with every lookup contained in the root."""
    return openat2(rootfd, path.lstrip("/") or ".", flags, 0, _RESOLVE)


def ensure_in_root(rootfd: int, path: str, *, is_dir: bool = True, mode: int = 0o755, _depth: int = 0) -> int:
    """Open ``path`` below the root as an O_PATH fd, creating it and its missing parents first.

    The last component is made a directory, or an empty file when ``is_dir`` is false (a bind mount of a file
    needs a file to land on). A dangling symlink on the way is followed inside the root and its target
    created there, as a lookup inside the container would see it. Returns the fd; the caller closes it.
    """
    if _depth > 40:
        raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
    rel = path.strip("/")
    if not rel:
        return os.dup(rootfd)
    try:
        return open_in_root(rootfd, rel)
    except FileNotFoundError:
        pass
    parts = [p for p in rel.split("/") if p and p != "."]
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        sub = "/".join(parts[: i + 1])
        try:
            fd = open_in_root(rootfd, sub)
        except FileNotFoundError:
            fd = -1
        if fd >= 0:
            if last:
                return fd
            is_directory = stat.S_ISDIR(os.fstat(fd).st_mode)
            os.close(fd)
            if not is_directory:
                raise OSError(errno.ENOTDIR, f"/{sub} is not a directory", path)
            continue
        dirfd = open_in_root(rootfd, "/".join(parts[:i]) or ".", os.O_PATH | os.O_DIRECTORY)
        try:
            try:
                # an O_PATH directory fd is a valid dirfd for mkdirat/mknodat
                if last and not is_dir:
                    os.mknod(part, stat.S_IFREG | 0o644, dir_fd=dirfd)
                else:
                    os.mkdir(part, mode, dir_fd=dirfd)
            except FileExistsError:
                # a dangling symlink: create its target, resolved inside the root, then go on from there
                target = os.readlink(part, dir_fd=dirfd)
                if not target.startswith("/"):
                    root_real = os.readlink(f"/proc/self/fd/{rootfd}")
                    here = os.readlink(f"/proc/self/fd/{dirfd}")
                    parent = here[len(root_real) :] if here.startswith(root_real) else "/"
                    target = posixpath.join(parent or "/", target)
                rest = "/".join(parts[i + 1 :])
                resolved = posixpath.normpath("/" + target.lstrip("/"))  # '..' above the root stays at the root
                return ensure_in_root(
                    rootfd, f"{resolved}/{rest}" if rest else resolved, is_dir=is_dir, mode=mode, _depth=_depth + 1
                )
        finally:
            os.close(dirfd)
    return open_in_root(rootfd, rel)
