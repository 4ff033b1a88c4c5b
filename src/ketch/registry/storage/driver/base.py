"""The narrow interface every storage backend implements.

Paths are ``/``-separated, relative, and built only by :mod:`ketch.registry.storage.paths` (never from raw
user input). A driver knows nothing about blobs, manifests or repositories: it stores byte strings under
paths. Modelled on the shape of CNCF distribution's storagedriver, reduced to what the registry uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Protocol

__all__ = ["DriverError", "FileInfo", "FileWriter", "PathBusy", "PathNotFound", "StorageDriver", "check_path"]


class DriverError(Exception):
    """A storage backend failed (I/O error, backend unreachable)."""


class PathNotFound(DriverError):
    """Nothing is stored at a path."""

    def __init__(self, path: str) -> None:
        super().__init__(f"storage path {path!r} not found")
        self.path = path


class PathBusy(DriverError):
    """Another writer holds the append lock on a path."""

    def __init__(self, path: str) -> None:
        super().__init__(f"storage path {path!r} is being written by another request")
        self.path = path


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    mtime: float
    is_dir: bool


def check_path(path: str) -> str:
    """Refuse paths that could leave the driver's root (absolute, ``..``, empty components).

    Defence in depth against path traversal (CWE-22): names are validated before they reach paths.py, but a
    driver never trusts its caller.
    """
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        raise ValueError(f"storage path {path!r} is not a relative path")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise ValueError(f"storage path {path!r} has an empty, '.' or '..' component")
    return path


class FileWriter(Protocol):
    """An open write to one path. Bytes become visible at ``path`` only once :meth:`commit` returns for
    atomic writers, or as they are appended for append writers (uploads)."""

    @property
    def size(self) -> int:
        """Bytes in the file so far, including those present before an append writer was opened."""
        ...

    def write(self, data: bytes) -> int: ...

    def commit(self, durable: bool = True) -> None:
        """Finish the write and close. ``durable`` makes everything written durable first (fsync or the
        backend's equivalent); without it the bytes survive a crash of the process but not necessarily of
        the machine (for data verified later, like an upload whose digest is checked on completion)."""
        ...

    def cancel(self) -> None:
        """Abandon the write; an atomic writer leaves the path as it was."""
        ...


class StorageDriver(Protocol):
    """Ten operations over a tree of byte strings."""

    name: str

    def get_content(self, path: str) -> bytes:
        """The whole content at ``path``; :class:`PathNotFound` if none."""
        ...

    def put_content(self, path: str, data: bytes) -> None:
        """Replace ``path`` with ``data`` atomically and durably (parents are created)."""
        ...

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        """A binary stream over ``path`` from ``offset``; :class:`PathNotFound` if none."""
        ...

    def writer(self, path: str, append: bool = False) -> FileWriter:
        """Open a write. ``append=False`` replaces ``path`` atomically on commit; ``append=True`` adds to
        the existing content in place (an exclusive lock on the path is held until commit or cancel;
        :class:`PathBusy` if another writer holds it)."""
        ...

    def stat(self, path: str) -> FileInfo:
        """Size, modification time and kind of ``path``; :class:`PathNotFound` if none."""
        ...

    def list(self, path: str) -> list[str]:
        """Names of the direct children of directory ``path``, sorted; :class:`PathNotFound` if none."""
        ...

    def move(self, source: str, dest: str) -> None:
        """Rename ``source`` over ``dest`` atomically (dest's parents are created)."""
        ...

    def delete(self, path: str) -> None:
        """Remove ``path`` and everything under it; :class:`PathNotFound` if nothing is there."""
        ...

    def touch(self, path: str) -> None:
        """Set the modification time of ``path`` to now (garbage collection's grace period reads it)."""
        ...

    def local_path(self, path: str) -> str | None:
        """A filesystem path the server may ``sendfile`` from, or None for remote backends."""
        ...
