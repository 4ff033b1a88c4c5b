"""Blobs: content-addressed, stored once for all repositories, linked into each repository that may serve
them (so a blob pushed to one repository is not readable through another unless mounted there)."""

from __future__ import annotations

from typing import BinaryIO

from ketch._common.digest import Digest
from ketch.registry.storage import paths
from ketch.registry.storage.driver import PathNotFound, StorageDriver
from ketch.registry.storage.errors import BlobUnknown

__all__ = ["BlobStore"]


class BlobStore:
    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver

    def exists(self, digest: Digest) -> bool:
        try:
            self.driver.stat(paths.blob_data(digest))
        except PathNotFound:
            return False
        return True

    def size(self, digest: Digest) -> int:
        """Size of a stored blob, in any repository; :class:`BlobUnknown` if absent."""
        try:
            return self.driver.stat(paths.blob_data(digest)).size
        except PathNotFound:
            raise BlobUnknown(f"blob {digest} is not stored", {"digest": str(digest)}) from None

    def is_linked(self, name: str, digest: Digest) -> bool:
        try:
            self.driver.stat(paths.layer_link(name, digest))
        except PathNotFound:
            return False
        return True

    def size_in(self, name: str, digest: Digest) -> int:
        """Size of a blob that repository ``name`` may serve; :class:`BlobUnknown` otherwise."""
        if not self.is_linked(name, digest):
            raise BlobUnknown(f"blob {digest} is unknown to repository {name!r}", {"digest": str(digest)})
        return self.size(digest)

    def link(self, name: str, digest: Digest) -> None:
        self.driver.put_content(paths.layer_link(name, digest), str(digest).encode())

    def unlink(self, name: str, digest: Digest) -> None:
        """Remove a blob from a repository (its content stays until garbage collection)."""
        try:
            self.driver.delete(paths.layer_link(name, digest))
        except PathNotFound:
            raise BlobUnknown(
                f"blob {digest} is unknown to repository {name!r}", {"digest": str(digest)}
            ) from None

    def local_path(self, digest: Digest) -> str | None:
        return self.driver.local_path(paths.blob_data(digest))

    def reader(self, digest: Digest, offset: int = 0) -> BinaryIO:
        try:
            return self.driver.reader(paths.blob_data(digest), offset)
        except PathNotFound:
            raise BlobUnknown(f"blob {digest} is not stored", {"digest": str(digest)}) from None

    def get(self, digest: Digest) -> bytes:
        try:
            return self.driver.get_content(paths.blob_data(digest))
        except PathNotFound:
            raise BlobUnknown(f"blob {digest} is not stored", {"digest": str(digest)}) from None

    def put(self, data: bytes, digest: Digest) -> None:
        """Store verified bytes under their digest (the caller computed it); an existing copy is kept and
        its modification time refreshed, so garbage collection sees it as freshly used."""
        path = paths.blob_data(digest)
        try:
            self.driver.touch(path)
            return
        except PathNotFound:
            pass
        self.driver.put_content(path, data)

    def adopt(self, source: str, digest: Digest) -> None:
        """Move a verified, durable file at driver path ``source`` into place as blob ``digest``."""
        path = paths.blob_data(digest)
        try:
            self.driver.touch(path)
        except PathNotFound:
            self.driver.move(source, path)
            return
        self.driver.delete(source)

    def touch(self, digest: Digest) -> None:
        try:
            self.driver.touch(paths.blob_data(digest))
        except PathNotFound:
            raise BlobUnknown(f"blob {digest} is not stored", {"digest": str(digest)}) from None
