"""The registry's storage as one object: blobs, uploads, manifests, the catalog, mounts and deletes."""

from __future__ import annotations

import os

from ketch._common.digest import Digest
from ketch._common.ids import InvalidName, validate_repository_name
from ketch.registry.storage import paths
from ketch.registry.storage.blobs import BlobStore
from ketch.registry.storage.driver import PathNotFound, StorageDriver
from ketch.registry.storage.errors import InvalidReference
from ketch.registry.storage.locks import CollectionLock
from ketch.registry.storage.manifests import ManifestStore, PushResult
from ketch.registry.storage.uploads import UploadStore

__all__ = ["RegistryStore", "check_name"]


def check_name(name: str) -> str:
    """A repository name from a request, validated (NAME_INVALID otherwise)."""
    try:
        return validate_repository_name(name)
    except InvalidName as e:
        raise InvalidReference(str(e), "NAME_INVALID") from None


class RegistryStore:
    def __init__(self, driver: StorageDriver, lock_path: str | None = None) -> None:
        self.driver = driver
        if lock_path is None:
            local = driver.local_path(paths.ROOT)
            lock_path = os.path.join(os.path.dirname(local), "gc.lock") if local else None
        self.lock = CollectionLock(lock_path)
        self.blobs = BlobStore(driver)
        self.uploads = UploadStore(driver, self.blobs)
        self.manifests = ManifestStore(driver, self.blobs)

    def put_manifest(
        self, name: str, reference: str, body: bytes, content_type: str | None, tags: tuple[str, ...] = ()
    ) -> PushResult:
        with self.lock.shared():
            return self.manifests.put(name, reference, body, content_type, tags)

    def complete_upload(self, name: str, upload_id: str, digest: Digest, last_chunk: bytes = b"") -> int:
        with self.lock.shared():
            return self.uploads.complete(name, upload_id, digest, last_chunk)

    def put_blob(self, name: str, data: bytes, digest: Digest) -> None:
        """A monolithic upload already verified by the caller."""
        with self.lock.shared():
            self.blobs.put(data, digest)
            self.blobs.link(name, digest)

    def mount(self, name: str, source: str | None, digest: Digest) -> bool:
        """Link a blob of ``source`` into ``name`` (spec.md "Mounting a blob from another repository").

        With no ``source`` any stored blob may be mounted (spec allows this when ``from`` is omitted). False
        when the blob is not available, so the caller falls back to opening an upload (202).
        """
        with self.lock.shared():
            if source is not None and not self.blobs.is_linked(source, digest):
                return False
            if not self.blobs.exists(digest):
                return False
            self.blobs.touch(digest)
            self.blobs.link(name, digest)
            return True

    def catalog(self) -> list[str]:
        """Every repository holding manifests or blobs, in lexical order."""
        found: list[str] = []
        self._walk(paths.repositories_root(), "", found)
        return sorted(found)

    def _walk(self, path: str, prefix: str, found: list[str]) -> None:
        try:
            children = self.driver.list(path)
        except PathNotFound:
            return
        if prefix and ("_manifests" in children or "_layers" in children):
            found.append(prefix)
        for child in children:
            if child.startswith("_"):
                continue
            self._walk(f"{path}/{child}", f"{prefix}/{child}" if prefix else child, found)
