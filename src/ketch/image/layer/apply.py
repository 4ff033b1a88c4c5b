"""Applying one layer's tar stream onto a directory, never writing outside it (image-spec layer.md).

Every filesystem operation is relative to a directory fd: the parent of each entry is opened with openat2
``RESOLVE_IN_ROOT`` (symlinks and ``..`` in the parents resolve as if the target were ``/``), and the final
component is created or changed with ``*at`` calls that do not follow it. So a layer's symlinks can point
anywhere they like: extraction never follows one out of the target (CVE-2018-15664 / CVE-2019-14271 class,
"symlink in a parent directory"). Entries whose names or hardlink targets hold ``..`` are refused outright;
leading ``/`` is stripped (the entry stays inside the target, as GNU tar does).

Whiteouts (layer.md "Whiteouts") are applied in one of two forms:

- ``"remove"``: the named path is deleted from the target (the target is the merged root being built);
  ``.wh..wh..opq`` empties its directory of everything that came from lower layers.
- ``"overlay"``: the target is one overlayfs lower dir: ``.wh.x`` becomes a 0/0 character device ``x`` and
  ``.wh..wh..opq`` sets ``trusted.overlay.opaque=y`` on its directory (overlayfs.rst "whiteouts and opaque
  directories").
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tarfile
from typing import IO, BinaryIO, Literal, cast

from ketch._common.model import field, model
from ketch.image.errors import CorruptLayer, LayerError, UnsafeLayerEntry
from ketch.image.layer.stream import CHUNK, ChunkReader
from ketch.linux.fd import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2

__all__ = ["ApplyStats", "WhiteoutMode", "apply_tar"]

WhiteoutMode = Literal["remove", "overlay"]

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
_RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
_XATTR_PAX = "SCHILY.xattr."


@model
class ApplyStats:
    entries: int = 0
    whiteouts: int = 0
    skipped_devices: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)


def _split(name: str, entry: str, what: str = "") -> list[str]:
    """Normalise a tar name into path components inside the root; ``..`` anywhere is refused."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        # Path traversal (CVE-2007-4559 class): "../etc/passwd" or "a/../../x".
        subject = f"layer entry {entry!r}: {what} {name!r}" if what else f"layer entry {entry!r}"
        raise UnsafeLayerEntry(f"{subject} escapes the root: '..' is not allowed")
    return parts


class _Applier:
    def __init__(self, root: str, whiteouts: WhiteoutMode, same_owner: bool, reader: ChunkReader) -> None:
        self.root = root
        self.reader = reader
        self.mode = whiteouts
        self.same_owner = same_owner
        self.is_root = os.geteuid() == 0
        self.euid, self.egid = os.geteuid(), os.getegid()
        self.umask = _umask()
        self.rootfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.created: set[str] = set()  # paths this layer wrote (opaque/whiteouts spare them: layer.md)
        self.opaque_dirs: list[str] = []
        self.dir_times: list[tuple[str, int]] = []
        self.stats = ApplyStats()
        self.current = ""
        self._cached_key: tuple[str, ...] | None = None
        self._cached_fd = -1
        self._cached_gid = -1  # the group a new file in the cached parent gets (its own if set-gid)

    def close(self) -> None:
        self._drop_parent()
        os.close(self.rootfd)

    # -- resolution ------------------------------------------------------------------------------------

    def _open_dir(self, parts: list[str], entry: str, *, create: bool = True) -> int:
        """An O_PATH fd of directory ``parts``, resolved inside the root; missing directories are made."""
        path = "/".join(parts) or "."
        try:
            return openat2(self.rootfd, path, os.O_PATH | os.O_DIRECTORY, resolve=_RESOLVE)
        except OSError as e:
            if e.errno == errno.ENOTDIR:
                raise LayerError(f"layer entry {entry!r}: a parent of it is not a directory") from None
            if e.errno == errno.EXDEV:
                raise UnsafeLayerEntry(
                    f"layer entry {entry!r}: its parent resolves outside the root"
                ) from None
            if e.errno != errno.ENOENT or not create:
                raise
        # Make the missing ancestors one by one, each from its parent resolved in the root.
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            try:
                fd = openat2(self.rootfd, sub, os.O_PATH | os.O_DIRECTORY, resolve=_RESOLVE)
            except FileNotFoundError:
                pfd = self._open_dir(parts[: i - 1], entry, create=False)
                try:
                    os.mkdir(parts[i - 1], 0o755, dir_fd=pfd)
                except FileExistsError:
                    pass  # a dangling symlink: resolved below as ENOENT again
                finally:
                    os.close(pfd)
                try:
                    fd = openat2(self.rootfd, sub, os.O_PATH | os.O_DIRECTORY, resolve=_RESOLVE)
                except FileNotFoundError:
                    raise LayerError(
                        f"layer entry {entry!r}: parent {sub!r} is a symlink to nothing inside the root"
                    ) from None
            if i == len(parts):
                return fd
            os.close(fd)
        raise AssertionError("unreachable")

    # -- entries ---------------------------------------------------------------------------------------

    def apply(self, tar: tarfile.TarFile) -> ApplyStats:
        for member in tar:
            self.current = member.name
            self.stats.entries += 1
            parts = _split(member.name, member.name)
            if not parts:
                if member.isdir():
                    self._metadata_root(member)
                continue
            base = parts[-1]
            if base.startswith(WHITEOUT_PREFIX):
                self._drop_parent()  # a whiteout may remove the cached directory itself
                try:
                    self._whiteout(member, parts)
                except OSError as e:
                    raise LayerError(f"layer entry {member.name!r}: {e.strerror or e}") from None
                continue
            try:
                self._entry(tar, member, parts, self._parent(parts[:-1], member.name))
            except OSError as e:
                raise LayerError(f"layer entry {member.name!r}: {e.strerror or e}") from None
            self.created.add("/".join(parts))
        self._drop_parent()
        self._finish()
        return self.stats

    def _parent(self, parts: list[str], entry: str) -> int:
        """The parent dir fd, reused while entries stay in one directory (tars list directories together).

        Entries of one parent only create or replace that parent's children, which cannot change what the
        parent itself resolves to; a whiteout can (it may delete the parent), so it drops the cache.
        """
        key = tuple(parts)
        if self._cached_key != key:
            fd = self._open_dir(parts, entry)
            self._drop_parent()
            st = os.fstat(fd)
            self._cached_key, self._cached_fd = key, fd
            self._cached_gid = st.st_gid if st.st_mode & stat.S_ISGID else self.egid
        return self._cached_fd

    def _drop_parent(self) -> None:
        if self._cached_fd >= 0:
            os.close(self._cached_fd)
        self._cached_key, self._cached_fd, self._cached_gid = None, -1, -1

    def _metadata_root(self, member: tarfile.TarInfo) -> None:
        self._drop_parent()  # the root's mode (set-gid) may change
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self._chown_chmod_fd(fd, member)
        finally:
            os.close(fd)
        self.dir_times.append(("", int(member.mtime)))

    def _remove(self, pfd: int, name: str) -> None:
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            # fd-based rmtree: never follows symlinks inside the tree it removes.
            shutil.rmtree(name, dir_fd=pfd)
        else:
            os.unlink(name, dir_fd=pfd)

    def _entry(self, tar: tarfile.TarFile, m: tarfile.TarInfo, parts: list[str], pfd: int) -> None:
        name = parts[-1]
        if m.isdir():
            try:
                os.mkdir(name, 0o700, dir_fd=pfd)
            except FileExistsError:
                if not stat.S_ISDIR(os.stat(name, dir_fd=pfd, follow_symlinks=False).st_mode):
                    self._remove(pfd, name)
                    os.mkdir(name, 0o700, dir_fd=pfd)
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            try:
                self._chown_chmod_fd(fd, m)
                self._xattrs_fd(fd, m)
            finally:
                os.close(fd)
            self.dir_times.append(("/".join(parts), int(m.mtime)))
            return
        try:
            self._create(tar, m, pfd, name)
        except FileExistsError:
            # layer.md "Changesets": a non-directory replaces whatever was there, directories included.
            self._remove(pfd, name)
            self._create(tar, m, pfd, name)

    def _create(self, tar: tarfile.TarFile, m: tarfile.TarInfo, pfd: int, name: str) -> None:
        """Make a non-directory entry; FileExistsError (before any change) when the name is taken."""
        if m.isreg():
            self._regular(tar, m, pfd, name)
        elif m.issym():
            os.symlink(m.linkname, name, dir_fd=pfd)
            self._finish_path(pfd, name, m, symlink=True)
        elif m.islnk():
            self._hardlink(m, pfd, name)
        elif m.ischr() or m.isblk():
            if not self.is_root:
                self.stats.skipped_devices += 1
                self.stats.skipped.append(m.name)
                return
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            os.mknod(name, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
            self._finish_path(pfd, name, m)
        elif m.isfifo():
            os.mkfifo(name, 0o600, dir_fd=pfd)
            self._finish_path(pfd, name, m)
        else:
            raise CorruptLayer(f"layer entry {m.name!r} has unsupported type {m.type!r}")

    def _regular(self, tar: tarfile.TarFile, m: tarfile.TarInfo, pfd: int, name: str) -> None:
        mode = stat.S_IMODE(m.mode)
        # Created with its final permission bits where the umask keeps them (the fd stays writable even for
        # 0o444); set-id bits only after the chown, which would clear them.
        fd = os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            mode & 0o777,
            dir_fd=pfd,
        )
        try:
            if m.sparse is not None:
                self._sparse_data(tar, m, fd)
            else:
                # The data straight from the decompressed chunks (tarfile put the stream at the header's end).
                self.reader.seek(m.offset_data)
                remaining = m.size
                for view in self.reader.views(m.size):
                    remaining -= len(view)
                    while view:
                        view = view[os.write(fd, view) :]
                if remaining:
                    raise CorruptLayer(f"layer entry {m.name!r}: data is truncated")
            self.stats.bytes += m.size
            # A new file is owned by our euid and egid (or the parent's group if that is set-gid): chown only
            # when the entry says otherwise, chmod only for bits the umask dropped or set-id/sticky bits.
            if self.same_owner and (
                m.uid != self.euid or m.gid != self._cached_gid or pfd != self._cached_fd
            ):
                os.fchown(fd, m.uid, m.gid)
            if mode & 0o7000 or mode & self.umask:
                os.fchmod(fd, mode)
            self._xattrs_fd(fd, m)
            os.utime(fd, ns=(int(m.mtime * 1e9), int(m.mtime * 1e9)))
        finally:
            os.close(fd)

    def _sparse_data(self, tar: tarfile.TarFile, m: tarfile.TarInfo, fd: int) -> None:
        """A GNU sparse file: tarfile's reader puts the holes back in."""
        src = tar.extractfile(m)
        if src is None:  # pragma: no cover - a regular member always has a reader
            return
        remaining = m.size
        while remaining > 0:
            chunk = src.read(min(CHUNK, remaining))
            if not chunk:
                raise CorruptLayer(f"layer entry {m.name!r}: data is truncated")
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            remaining -= len(chunk)

    def _hardlink(self, m: tarfile.TarInfo, pfd: int, name: str) -> None:
        target = _split(m.linkname, m.name, "hardlink target")
        if not target:
            raise UnsafeLayerEntry(f"layer entry {m.name!r}: hardlink to the root directory")
        try:
            spfd = self._open_dir(target[:-1], m.name, create=False)
        except FileNotFoundError:
            raise LayerError(
                f"layer entry {m.name!r}: hardlink target {m.linkname!r} does not exist"
            ) from None
        try:
            # No AT_SYMLINK_FOLLOW: a hardlink to a symlink links the symlink, never what it points to (a
            # symlink to /etc/shadow must not become a second name for the host's file).
            os.link(target[-1], name, src_dir_fd=spfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            raise LayerError(
                f"layer entry {m.name!r}: hardlink target {m.linkname!r} does not exist"
            ) from None
        finally:
            os.close(spfd)

    def _finish_path(self, pfd: int, name: str, m: tarfile.TarInfo, *, symlink: bool = False) -> None:
        """Ownership, mode, xattrs and times of a node we cannot hold an ordinary fd on."""
        if self.same_owner:
            os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        if not symlink:
            # A fifo or device: fchmodat on the name (chmod never follows; the name is not a symlink, we
            # just made it in a directory no one else writes to during extraction).
            os.chmod(name, stat.S_IMODE(m.mode), dir_fd=pfd)
        if self._xattrs_of(m):
            self._xattrs_path(f"/proc/self/fd/{pfd}/{name}", m)
        os.utime(name, ns=(int(m.mtime * 1e9), int(m.mtime * 1e9)), dir_fd=pfd, follow_symlinks=False)

    def _chown_chmod_fd(self, fd: int, m: tarfile.TarInfo) -> None:
        if self.same_owner:
            os.fchown(fd, m.uid, m.gid)
        # after chown: chown clears set-id bits
        os.fchmod(fd, stat.S_IMODE(m.mode))

    def _xattrs_of(self, m: tarfile.TarInfo) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for key, value in m.pax_headers.items():
            if not key.startswith(_XATTR_PAX):
                continue
            attr = key[len(_XATTR_PAX) :]
            if attr.startswith("trusted.overlay.") or attr.startswith("user.overlay."):
                # A layer must not forge overlayfs metadata (redirect/origin/metacopy would let a lower dir
                # reach files of other layers); ketch sets opaque markers itself from .wh..wh..opq.
                self.stats.skipped.append(f"{m.name}:{attr}")
                continue
            if not self.is_root and not attr.startswith("user."):
                self.stats.skipped.append(f"{m.name}:{attr}")
                continue
            out[attr] = value.encode("utf-8", "surrogateescape")
        return out

    def _xattrs_fd(self, fd: int, m: tarfile.TarInfo) -> None:
        for attr, value in self._xattrs_of(m).items():
            try:
                os.setxattr(fd, attr, value)
            except OSError as e:
                raise LayerError(f"layer entry {m.name!r}: cannot set xattr {attr}: {e.strerror}") from None

    def _xattrs_path(self, path: str, m: tarfile.TarInfo) -> None:
        for attr, value in self._xattrs_of(m).items():
            try:
                os.setxattr(path, attr, value, follow_symlinks=False)
            except OSError as e:
                if e.errno == errno.EPERM and m.issym() and attr.startswith("user."):
                    continue  # the kernel refuses user.* on symlinks
                raise LayerError(f"layer entry {m.name!r}: cannot set xattr {attr}: {e.strerror}") from None

    # -- whiteouts -------------------------------------------------------------------------------------

    def _whiteout(self, m: tarfile.TarInfo, parts: list[str]) -> None:
        base = parts[-1]
        self.stats.whiteouts += 1
        dir_parts = parts[:-1]
        if base == OPAQUE:
            self.opaque_dirs.append("/".join(dir_parts))
            if self.mode == "overlay":
                fd = self._open_dir(dir_parts, m.name)
                try:
                    # trusted.overlay.opaque=y: overlayfs hides the lower dirs' entries here.
                    os.setxattr(f"/proc/self/fd/{fd}", "trusted.overlay.opaque", b"y")
                finally:
                    os.close(fd)
            return
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX[:-1]):
            return  # other AUFS metadata (.wh..wh.plnk, ...): layer.md says to ignore it
        hidden = base[len(WHITEOUT_PREFIX) :]
        if hidden in ("", ".", ".."):
            raise CorruptLayer(f"layer entry {m.name!r}: whiteout names no file")
        path = "/".join([*dir_parts, hidden])
        if path in self.created:
            return  # layer.md: a whiteout only hides lower layers' files, never its own layer's
        try:
            pfd = self._open_dir(dir_parts, m.name, create=self.mode == "overlay")
        except FileNotFoundError:
            return  # nothing below to hide
        try:
            self._remove(pfd, hidden)
            if self.mode == "overlay":
                os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
        finally:
            os.close(pfd)

    def _finish(self) -> None:
        if self.mode == "remove":
            for d in self.opaque_dirs:
                try:
                    fd = self._open_dir(_split(d, d), d, create=False)
                except FileNotFoundError:
                    continue
                try:
                    for name in os.listdir(fd_path_dir(fd)):
                        child = f"{d}/{name}" if d else name
                        if child not in self.created:
                            self._remove(fd, name)
                finally:
                    os.close(fd)
        # Directory times last: creating their children changed them (deepest first).
        for path, mtime in sorted(self.dir_times, key=lambda t: -t[0].count("/") - (1 if t[0] else 0)):
            try:
                fd = openat2(
                    self.rootfd, path or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, resolve=_RESOLVE
                )
            except OSError:
                continue
            try:
                os.utime(fd, ns=(mtime * 10**9, mtime * 10**9))
            finally:
                os.close(fd)


def _umask() -> int:
    """The process umask, read without changing it (os.umask would, for a moment, for every thread)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o777  # unknown: assume the worst, so every file gets its chmod


def fd_path_dir(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def apply_tar(
    stream: BinaryIO | ChunkReader,
    target: str,
    *,
    whiteouts: WhiteoutMode = "remove",
    same_owner: bool | None = None,
    name: str = "layer",
) -> ApplyStats:
    """Apply the uncompressed tar ``stream`` onto the directory ``target``.

    ``same_owner`` (default: when running as root) keeps the entries' uid/gid. Raises UnsafeLayerEntry for an
    entry that would escape, CorruptLayer for a broken tar; ``name`` names the layer in errors.
    """
    if isinstance(stream, ChunkReader):
        reader = stream
    else:
        plain = stream
        reader = ChunkReader(lambda: plain.read(CHUNK))
    applier = _Applier(target, whiteouts, os.geteuid() == 0 if same_owner is None else same_owner, reader)
    try:
        # "r:" over the forward-only reader: tarfile parses the headers, file data is read from the reader.
        with tarfile.open(fileobj=cast(IO[bytes], reader), mode="r:", errorlevel=2) as tar:
            return applier.apply(tar)
    except (tarfile.TarError, EOFError) as e:
        where = f" (after entry {applier.current!r})" if applier.current else ""
        raise CorruptLayer(f"{name}: not a valid tar stream{where}: {e}") from None
    finally:
        with contextlib.suppress(OSError):
            applier.close()
