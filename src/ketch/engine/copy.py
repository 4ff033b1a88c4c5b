"""``ketch cp``: copying between a container's root filesystem and the host without escaping the root.

Paths inside the container are resolved with openat2 ``RESOLVE_IN_ROOT`` on a descriptor of the rootfs, so a
symlink in the container (``/data -> /etc`` or ``../../../etc``) resolves inside the container's root, never
to the host's files (the class of CVE-2018-15664 and CVE-2019-14271, ``docker cp`` symlink races). Below the
starting point every entry is opened relative to its parent's descriptor with ``O_NOFOLLOW``; symlinks are
copied as symlinks, not followed.
"""

from __future__ import annotations

import os
import stat

from ketch.engine.errors import NotFound, UsageError
from ketch.linux.fd import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2

__all__ = ["copy_in", "copy_out"]

_RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS


def _open_in_root(rootfd: int, path: str, flags: int) -> int:
    try:
        return openat2(rootfd, path.lstrip("/") or ".", flags | os.O_CLOEXEC, 0, _RESOLVE)
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist in the container") from None


def _copy_file_fd(src_fd: int, dst_fd: int) -> None:
    while True:
        chunk = os.read(src_fd, 1 << 20)
        if not chunk:
            return
        os.write(dst_fd, chunk)


def _copy_tree(src_dir: int, dst_dir: int) -> None:
    """Copy the entries of directory ``src_dir`` into ``dst_dir``; both are descriptors, nothing followed."""
    for name in sorted(os.listdir(src_dir)):
        st = os.stat(name, dir_fd=src_dir, follow_symlinks=False)
        _copy_entry(src_dir, name, st, dst_dir, name)


def _copy_entry(src_dir: int, src_name: str, st: os.stat_result, dst_dir: int, dst_name: str) -> None:
    mode = stat.S_IMODE(st.st_mode)
    try:
        existing = os.stat(dst_name, dir_fd=dst_dir, follow_symlinks=False)
    except FileNotFoundError:
        existing = None
    if stat.S_ISDIR(st.st_mode):
        if existing is None:
            os.mkdir(dst_name, mode | 0o700, dir_fd=dst_dir)
        elif not stat.S_ISDIR(existing.st_mode):
            raise UsageError(f"cannot overwrite non-directory {dst_name!r} with a directory")
        sfd = os.open(src_name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_dir)
        dfd = os.open(dst_name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst_dir)
        try:
            _copy_tree(sfd, dfd)
            os.chmod(dfd, mode)
        finally:
            os.close(sfd)
            os.close(dfd)
        return
    if existing is not None:
        if stat.S_ISDIR(existing.st_mode):
            raise UsageError(f"cannot overwrite directory {dst_name!r} with a non-directory")
        os.unlink(dst_name, dir_fd=dst_dir)  # replace, never write through an existing symlink
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src_name, dir_fd=src_dir), dst_name, dir_fd=dst_dir)
    elif stat.S_ISREG(st.st_mode):
        sfd = os.open(src_name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_dir)
        try:
            dfd = os.open(dst_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                          dir_fd=dst_dir)  # fmt: skip
            try:
                _copy_file_fd(sfd, dfd)
                os.fchmod(dfd, mode)
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)
    else:
        raise UsageError(f"{src_name!r} is not a regular file, directory or symlink")


def _target(dst_parent: int, dst_name: str, src_name: str) -> tuple[int, str]:
    """Docker's rule: copying onto an existing directory puts the source inside it."""
    try:
        st = os.stat(dst_name, dir_fd=dst_parent, follow_symlinks=False)
    except FileNotFoundError:
        return dst_parent, dst_name
    if stat.S_ISDIR(st.st_mode):
        fd = os.open(dst_name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst_parent)
        return fd, src_name
    return dst_parent, dst_name


def copy_out(rootfs: str, path: str, dest: str) -> None:
    """Copy ``path`` (inside the container rooted at ``rootfs``) to ``dest`` on the host."""
    rootfd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        parent_path, _, name = path.rstrip("/").rpartition("/")
        parent = _open_in_root(rootfd, parent_path or "/", os.O_RDONLY | os.O_DIRECTORY)
        try:
            if not name:
                name = "."
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                raise NotFound(f"{path} does not exist in the container") from None
            dest_abs = os.path.abspath(dest)
            hparent = os.open(os.path.dirname(dest_abs), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                dfd, dname = _target(hparent, os.path.basename(dest_abs), os.path.basename(path.rstrip("/")) or "root")
                try:
                    _copy_entry(parent, name, st, dfd, dname)
                finally:
                    if dfd != hparent:
                        os.close(dfd)
            finally:
                os.close(hparent)
        finally:
            os.close(parent)
    finally:
        os.close(rootfd)


def copy_in(src: str, rootfs: str, path: str) -> None:
    """Copy host ``src`` to ``path`` inside the container rooted at ``rootfs``."""
    src_abs = os.path.abspath(src)
    try:
        st = os.stat(src_abs, follow_symlinks=False)
    except FileNotFoundError:
        raise NotFound(f"{src} does not exist") from None
    rootfd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        parent_path, _, name = path.rstrip("/").rpartition("/")
        parent = _open_in_root(rootfd, parent_path or "/", os.O_RDONLY | os.O_DIRECTORY)
        sparent = os.open(os.path.dirname(src_abs), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            if not name:
                dfd, dname = os.dup(parent), os.path.basename(src_abs)
            else:
                dfd, dname = _target(parent, name, os.path.basename(src_abs))
                if dfd == parent:
                    dfd = os.dup(parent)
            try:
                _copy_entry(sparent, os.path.basename(src_abs), st, dfd, dname)
            finally:
                os.close(dfd)
        finally:
            os.close(sparent)
            os.close(parent)
    finally:
        os.close(rootfd)
