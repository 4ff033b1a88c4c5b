"""A storage driver over a local directory.

Atomic writes go to a uniquely named temporary file beside the target, are fsynced, then renamed over it and
the directory is fsynced: a SIGKILL or power loss leaves the old content or the new, never a torn file.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import time
import uuid
from typing import BinaryIO

from ketch._common.atomicio import fsync_dir
from ketch.registry.storage.driver.base import DriverError, FileInfo, PathBusy, PathNotFound, check_path

__all__ = ["FilesystemDriver"]

_TMP_PREFIX = ".tmp-"
# appended bytes after which an append writer starts their writeback (see _AppendWriter._write_behind)
_WRITE_BEHIND = 4 << 20


class _AtomicWriter:
    def __init__(self, target: str) -> None:
        self._target = target
        self._dir = os.path.dirname(target)
        os.makedirs(self._dir, exist_ok=True)
        self._tmp = os.path.join(self._dir, f"{_TMP_PREFIX}{uuid.uuid4().hex}")
        self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._size += len(data)
        return len(data)

    def commit(self, durable: bool = True) -> None:
        try:
            if durable:
                os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = -1
        try:
            os.rename(self._tmp, self._target)
        except BaseException:
            _unlink(self._tmp)
            raise
        if durable:
            fsync_dir(self._dir)

    def cancel(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        _unlink(self._tmp)


class _AppendWriter:
    def __init__(self, target: str, path: str) -> None:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        self._fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            # one appender at a time, across processes: the size read below stays true while we hold it
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._size = os.fstat(self._fd).st_size
            self._written_back = self._size
        except BlockingIOError:
            os.close(self._fd)
            raise PathBusy(path) from None
        except BaseException:
            os.close(self._fd)
            raise

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._size += len(data)
        if self._size - self._written_back >= _WRITE_BEHIND:
            self._write_behind()
        return len(data)

    def _write_behind(self) -> None:
        # Start writing the pages appended so far to disk now, without waiting (fadvise DONTNEED starts
        # writeback of dirty pages and only drops pages already clean, so the page cache keeps them): the
        # fsync at the upload's completion then has only the tail left to wait for, instead of the whole
        # blob at once while the client waits for its 201.
        start = self._written_back
        self._written_back = self._size
        try:
            os.posix_fadvise(self._fd, start, self._size - start, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass  # only a hint: the fsync at completion still makes everything durable

    def commit(self, durable: bool = True) -> None:
        try:
            if durable:
                os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = -1

    def cancel(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class FilesystemDriver:
    """Stores everything under ``root`` (created if missing)."""

    name = "filesystem"

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)

    def _full(self, path: str) -> str:
        return os.path.join(self.root, check_path(path))

    def get_content(self, path: str) -> bytes:
        try:
            with open(self._full(path), "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise PathNotFound(path) from None
        except OSError as e:
            raise DriverError(f"reading storage path {path!r}: {e}") from e

    def put_content(self, path: str, data: bytes) -> None:
        w = _AtomicWriter(self._full(path))
        try:
            w.write(data)
        except BaseException:
            w.cancel()
            raise
        w.commit()

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        try:
            f = open(self._full(path), "rb")  # noqa: SIM115 - handed to the caller
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise PathNotFound(path) from None
        if offset:
            f.seek(offset)
        return f

    def writer(self, path: str, append: bool = False) -> _AtomicWriter | _AppendWriter:
        full = self._full(path)
        return _AppendWriter(full, path) if append else _AtomicWriter(full)

    def stat(self, path: str) -> FileInfo:
        try:
            st = os.stat(self._full(path))
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None
        import stat as stat_mod

        return FileInfo(path, st.st_size, st.st_mtime, stat_mod.S_ISDIR(st.st_mode))

    def list(self, path: str) -> list[str]:
        try:
            names = os.listdir(self._full(path))
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None
        return sorted(n for n in names if not n.startswith(_TMP_PREFIX))

    def move(self, source: str, dest: str) -> None:
        src, dst = self._full(source), self._full(dest)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        try:
            os.rename(src, dst)
        except FileNotFoundError:
            raise PathNotFound(source) from None
        fsync_dir(os.path.dirname(dst))

    def delete(self, path: str) -> None:
        full = self._full(path)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                # rename first so readers never see a half-deleted tree, then remove at leisure
                trash = os.path.join(os.path.dirname(full), f"{_TMP_PREFIX}del-{uuid.uuid4().hex}")
                os.rename(full, trash)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.unlink(full)
        except FileNotFoundError:
            raise PathNotFound(path) from None
        except OSError as e:
            if e.errno == errno.ENOTDIR:
                raise PathNotFound(path) from None
            raise

    def touch(self, path: str) -> None:
        try:
            now = time.time()
            os.utime(self._full(path), (now, now))
        except FileNotFoundError:
            raise PathNotFound(path) from None

    def local_path(self, path: str) -> str | None:
        return self._full(path)
