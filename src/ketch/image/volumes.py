"""Volumes seeded from the image: each ``Config.Volumes`` path's content copied out of the rootfs.

conversion.md ("Optional Fields", note 2): mounts keep application data out of the container's root
filesystem, and "an implementation MAY seed the contents of the mount with data in the image at the same
location" (what Docker does for a new volume). The copy keeps owners, modes (set-id bits after the chown),
extended attributes (``security.capability`` included, never ``trusted.overlay.*``), times, symlinks,
device nodes, fifos and hardlinks within one volume.

The volume path comes from the image, and so do the symlinks it may pass through: it is resolved with openat2
``RESOLVE_IN_ROOT`` (a ``/data -> /etc`` link reaches the image's /etc, never the host's: CVE-2019-16884
class), and the tree under it is walked through fds with ``O_NOFOLLOW``, so no symlink inside it is followed.
"""

from __future__ import annotations

import errno
import os
import stat

from ketch.image.errors import ConvertError
from ketch.linux.fd import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2

__all__ = ["seed_volumes"]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_SKIP_XATTRS = ("trusted.overlay.", "user.overlay.")


def seed_volumes(rootfs: str, paths: list[str], dest: str) -> dict[str, str]:
    """Copy each volume ``path`` of ``rootfs`` into ``dest/<n>`` (``n``: its place in ``sorted(paths)``).

    A path absent from the image gives an empty directory (mode 0755); a path that is not a directory in
    the image is a ConvertError. Returns volume path -> absolute source directory.
    """
    os.makedirs(dest, exist_ok=True)
    out: dict[str, str] = {}
    rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for n, path in enumerate(sorted(paths)):
            if not path.startswith("/"):
                raise ConvertError(f"Config.Volumes entry {path!r} is not an absolute path")
            target = os.path.abspath(os.path.join(dest, str(n)))
            try:
                src = openat2(
                    rootfd, path, _DIR & ~os.O_NOFOLLOW, resolve=RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
                )
            except OSError as e:
                if e.errno == errno.ENOENT:
                    os.mkdir(target, 0o755)
                    os.chmod(target, 0o755)
                    out[path] = target
                    continue
                if e.errno == errno.ENOTDIR:
                    raise ConvertError(
                        f"Config.Volumes entry {path!r} is not a directory in the image"
                    ) from None
                raise
            try:
                os.mkdir(target, 0o700)
                dst = os.open(target, _DIR)
                try:
                    _Copier(dst).copy_dir(src, dst)
                    _metadata(src, dst, os.fstat(src))
                finally:
                    os.close(dst)
            finally:
                os.close(src)
            out[path] = target
    finally:
        os.close(rootfd)
    return out


def _xattrs(src: int | str, dst: int | str) -> None:
    """Copy extended attributes from ``src`` to ``dst`` (fds, or /proc/self/fd paths for symlinks etc.)."""
    nofollow = isinstance(src, str)  # fds are the nodes themselves; paths name a node we must not follow
    try:
        names = os.listxattr(src, follow_symlinks=not nofollow)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EPERM):
            return
        raise
    for name in names:
        if name.startswith(_SKIP_XATTRS):
            continue  # overlayfs' own metadata never travels (it could redirect lookups)
        try:
            value = os.getxattr(src, name, follow_symlinks=not nofollow)
            os.setxattr(dst, name, value, follow_symlinks=not nofollow)
        except OSError as e:
            if e.errno in (errno.ENOTSUP, errno.EPERM):
                continue  # user.* on a symlink, or a namespace the target filesystem lacks
            raise


def _metadata(src: int, dst: int, st: os.stat_result) -> None:
    """Owner, mode, xattrs and times from fd ``src`` to fd ``dst``."""
    if os.geteuid() == 0:
        os.fchown(dst, st.st_uid, st.st_gid)
    os.fchmod(dst, stat.S_IMODE(st.st_mode))  # after chown: chown clears set-id bits
    _xattrs(src, dst)  # after chown too: it clears security.capability
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


class _Copier:
    def __init__(self, rootfd: int) -> None:
        self.rootfd = rootfd  # the volume's top directory, for hardlinks by relative path
        self.inodes: dict[tuple[int, int], str] = {}

    def copy_dir(self, src: int, dst: int, rel: str = "") -> None:
        for name in sorted(os.listdir(src)):
            st = os.stat(name, dir_fd=src, follow_symlinks=False)
            sub = f"{rel}/{name}" if rel else name
            if stat.S_ISDIR(st.st_mode):
                os.mkdir(name, 0o700, dir_fd=dst)
                s = os.open(name, _DIR, dir_fd=src)
                try:
                    d = os.open(name, _DIR, dir_fd=dst)
                    try:
                        self.copy_dir(s, d, sub)
                        _metadata(s, d, st)
                    finally:
                        os.close(d)
                finally:
                    os.close(s)
            elif stat.S_ISREG(st.st_mode):
                self._file(src, dst, name, sub, st)
            else:
                self._special(src, dst, name, st)

    def _file(self, src: int, dst: int, name: str, rel: str, st: os.stat_result) -> None:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.inodes:
            # a second name of a file already copied: link it (the path is made of directories we created)
            os.link(self.inodes[key], name, src_dir_fd=self.rootfd, dst_dir_fd=dst, follow_symlinks=False)
            return
        s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
        try:
            d = os.open(
                name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dst
            )
            try:
                left = st.st_size
                while left > 0:
                    copied = os.copy_file_range(s, d, min(left, 1 << 30))
                    if copied == 0:
                        break  # the file shrank while we copied
                    left -= copied
                _metadata(s, d, st)
            finally:
                os.close(d)
        finally:
            os.close(s)
        if st.st_nlink > 1:
            self.inodes[key] = rel

    def _special(self, src: int, dst: int, name: str, st: os.stat_result) -> None:
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            if not stat.S_ISFIFO(st.st_mode) and os.geteuid() != 0:
                return  # device nodes need root, as in layer extraction
            os.mknod(name, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev, dir_fd=dst)
        else:
            return  # sockets are not copied
        if os.geteuid() == 0:
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            # not a symlink (we just made this node), so fchmodat on the name changes the node itself
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst)
        _xattrs(f"/proc/self/fd/{src}/{name}", f"/proc/self/fd/{dst}/{name}")
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)
