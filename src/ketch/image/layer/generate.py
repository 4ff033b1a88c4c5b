"""Making layer tars: a whole directory, an overlayfs upper directory, or the difference of two trees.

Entries are written in sorted order with numeric owners only (uname/gname empty) so the same tree gives the
same tar. Extended attributes travel as ``SCHILY.xattr.*`` PAX records (what GNU tar, Docker and umoci use);
overlayfs' own ``trusted.overlay.*`` attributes never do. Whiteouts follow layer.md: a deleted path becomes an
empty ``.wh.<name>`` file, a directory that replaces a lower one becomes ``<dir>/.wh..wh..opq``.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["tar_diff", "tar_directory", "tar_overlay_upper"]

_SKIP_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.", "security.selinux")


def _xattrs(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in names:
        if name.startswith(_SKIP_XATTR_PREFIXES):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        out["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return out


class _Writer:
    def __init__(self, out: BinaryIO) -> None:
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115 - closed by close()
        self.inodes: dict[tuple[int, int], str] = {}

    def add(self, path: str, arcname: str) -> None:
        st = os.lstat(path)
        ti = tarfile.TarInfo(arcname)
        ti.mtime = int(st.st_mtime)
        ti.mode = stat.S_IMODE(st.st_mode)
        ti.uid, ti.gid = st.st_uid, st.st_gid
        ti.uname = ti.gname = ""
        ti.pax_headers = _xattrs(path)
        if stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.inodes:
                ti.type = tarfile.LNKTYPE
                ti.linkname = self.inodes[key]
                self.tar.addfile(ti)
                return
            if st.st_nlink > 1:
                self.inodes[key] = arcname
            ti.type = tarfile.REGTYPE
            ti.size = st.st_size
            with open(path, "rb") as f:
                self.tar.addfile(ti, f)
            return
        if stat.S_ISDIR(st.st_mode):
            ti.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(st.st_mode):
            ti.type = tarfile.SYMTYPE
            ti.linkname = os.readlink(path)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            ti.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(st.st_mode):
            ti.type = tarfile.FIFOTYPE
        else:
            return  # sockets do not go into layers
        self.tar.addfile(ti)

    def whiteout(self, arcname: str, mtime: int = 0) -> None:
        ti = tarfile.TarInfo(arcname)
        ti.mtime = mtime
        ti.mode = 0o644
        ti.uname = ti.gname = ""
        self.tar.addfile(ti)

    def close(self) -> None:
        self.tar.close()


def _walk(root: str, rel: str = "") -> Iterator[tuple[str, str]]:
    """(full path, archive name) of everything under ``root``, sorted, parents before children."""
    base = os.path.join(root, rel) if rel else root
    for name in sorted(os.listdir(base)):
        full = os.path.join(base, name)
        arc = f"{rel}/{name}" if rel else name
        yield full, arc
        if stat.S_ISDIR(os.lstat(full).st_mode):
            yield from _walk(root, arc)


def tar_directory(root: str, out: BinaryIO) -> None:
    """The whole tree under ``root`` as a layer (paths relative, no leading ``./``)."""
    w = _Writer(out)
    for full, arc in _walk(root):
        w.add(full, arc)
    w.close()


def _is_overlay_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def tar_overlay_upper(upper: str, out: BinaryIO) -> None:
    """The changes an overlayfs upper dir holds, with its whiteouts converted to layer.md's form."""
    w = _Writer(out)
    for full, arc in _walk(upper):
        st = os.lstat(full)
        head, _, name = arc.rpartition("/")
        if _is_overlay_whiteout(st):
            w.whiteout(f"{head}/.wh.{name}" if head else f".wh.{name}", int(st.st_mtime))
            continue
        w.add(full, arc)
        if stat.S_ISDIR(st.st_mode) and _is_opaque(full):
            w.whiteout(f"{arc}/.wh..wh..opq", int(st.st_mtime))
    w.close()


def _same(a: os.stat_result, b: os.stat_result, pa: str, pb: str) -> bool:
    if stat.S_IFMT(a.st_mode) != stat.S_IFMT(b.st_mode):
        return False
    if (a.st_mode, a.st_uid, a.st_gid) != (b.st_mode, b.st_uid, b.st_gid):
        return False
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(pa) == os.readlink(pb)
    if stat.S_ISCHR(a.st_mode) or stat.S_ISBLK(a.st_mode):
        return a.st_rdev == b.st_rdev
    if stat.S_ISREG(a.st_mode):
        # size and mtime, as tar and rsync judge; content is not re-read
        return a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime)
    if stat.S_ISDIR(a.st_mode):
        return _xattrs(pa) == _xattrs(pb) and int(a.st_mtime) == int(b.st_mtime)
    return True


def tar_diff(lower: str, upper: str, out: BinaryIO) -> None:
    """What turns tree ``lower`` into tree ``upper``: changed/new entries, and whiteouts for removals."""
    w = _Writer(out)
    _diff(lower, upper, "", w)
    w.close()


def _diff(lower: str, upper: str, rel: str, w: _Writer) -> None:
    lbase = os.path.join(lower, rel) if rel else lower
    ubase = os.path.join(upper, rel) if rel else upper
    lnames = set(os.listdir(lbase))
    unames = set(os.listdir(ubase))
    for name in sorted(lnames | unames):
        arc = f"{rel}/{name}" if rel else name
        lp, up = os.path.join(lbase, name), os.path.join(ubase, name)
        if name not in unames:
            w.whiteout(f"{rel}/.wh.{name}" if rel else f".wh.{name}")
            continue
        ust = os.lstat(up)
        if name not in lnames:
            w.add(up, arc)
            if stat.S_ISDIR(ust.st_mode):
                for full, sub in _walk(upper, arc):
                    w.add(full, sub)
            continue
        lst = os.lstat(lp)
        if stat.S_ISDIR(ust.st_mode) and stat.S_ISDIR(lst.st_mode):
            if not _same(lst, ust, lp, up):
                w.add(up, arc)
            _diff(lower, upper, arc, w)
            continue
        if not _same(lst, ust, lp, up):
            w.add(up, arc)
            if stat.S_ISDIR(ust.st_mode):
                # a directory replacing a non-directory: everything below is new
                for full, sub in _walk(upper, arc):
                    w.add(full, sub)
