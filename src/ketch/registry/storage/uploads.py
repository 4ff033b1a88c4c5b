"""Blob upload sessions (spec.md "Pushing blobs"), kept in storage so any registry process sharing the storage
can continue or finish an upload another one started.

The digest is computed incrementally while bytes arrive; this process keeps the running hash of uploads it
has seen from the start. When another process appended in between (or this one restarted), the bytes are
hashed again from storage at completion, so the result never depends on which process served which chunk.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ketch._common.digest import ALGORITHMS, Digest
from ketch.registry.storage import paths
from ketch.registry.storage.blobs import BlobStore
from ketch.registry.storage.driver import FileWriter, PathBusy, PathNotFound, StorageDriver
from ketch.registry.storage.errors import DigestMismatch, UploadInvalid, UploadOutOfOrder, UploadUnknown

__all__ = ["UploadAppender", "UploadInfo", "UploadStore"]

_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class UploadInfo:
    id: str
    size: int
    algorithm: str
    started: float


class UploadAppender:
    """An append to one upload, holding its lock: :meth:`write` the bytes, then :meth:`finish` (durable) or
    :meth:`abort` (what was written stays; an upload is append-only)."""

    def __init__(self, store: UploadStore, name: str, upload_id: str, writer: FileWriter, algorithm: str):
        self._store = store
        self._key = (name, upload_id)
        self._writer = writer
        cached = store._hashers.get(self._key)
        if cached is not None and cached[0] == writer.size and cached[1].name == algorithm:
            self._hasher: Any = cached[1]
        else:
            self._hasher = None
            store._hashers.pop(self._key, None)

    @property
    def size(self) -> int:
        return self._writer.size

    def write(self, data: bytes) -> None:
        self._writer.write(data)
        if self._hasher is not None:
            self._hasher.update(data)

    def finish(self) -> int:
        self._writer.commit()
        if self._hasher is not None:
            self._store._hashers[self._key] = (self._writer.size, self._hasher)
        return self._writer.size

    def abort(self) -> None:
        self._writer.cancel()
        # the bytes written so far are in the file but the cached hash may be short of them
        self._store._hashers.pop(self._key, None)


class UploadStore:
    def __init__(self, driver: StorageDriver, blobs: BlobStore) -> None:
        self.driver = driver
        self.blobs = blobs
        self._hashers: dict[tuple[str, str], tuple[int, Any]] = {}

    def start(self, name: str, algorithm: str = "sha256") -> UploadInfo:
        if algorithm not in ALGORITHMS:
            raise UploadInvalid(
                f"unsupported digest algorithm {algorithm!r}; use one of {sorted(ALGORITHMS)}"
            )
        upload_id = uuid.uuid4().hex
        started = time.time()
        info = {"algorithm": algorithm, "started": started}
        self.driver.put_content(paths.upload_info(name, upload_id), json.dumps(info).encode())
        self.driver.put_content(paths.upload_data(name, upload_id), b"")
        self._hashers[(name, upload_id)] = (0, hashlib.new(algorithm))
        return UploadInfo(upload_id, 0, algorithm, started)

    def info(self, name: str, upload_id: str) -> UploadInfo:
        try:
            raw = self.driver.get_content(paths.upload_info(name, upload_id))
            size = self.driver.stat(paths.upload_data(name, upload_id)).size
        except (PathNotFound, ValueError):
            raise UploadUnknown(f"upload {upload_id!r} is unknown to repository {name!r}") from None
        doc = json.loads(raw)
        return UploadInfo(upload_id, size, str(doc.get("algorithm", "sha256")), float(doc.get("started", 0)))

    def open_append(self, name: str, upload_id: str, start: int | None = None) -> UploadAppender:
        """Open the upload for appending. ``start`` (from Content-Range) must equal the bytes held so far:
        chunks arrive in order without overlap (spec.md "Pushing a blob in chunks": 416 otherwise)."""
        info = self.info(name, upload_id)
        try:
            writer = self.driver.writer(paths.upload_data(name, upload_id), append=True)
        except PathBusy:
            raise UploadInvalid(f"upload {upload_id!r} is receiving another chunk right now") from None
        if start is not None and start != writer.size:
            writer.cancel()
            raise UploadOutOfOrder(
                f"chunk starts at offset {start} but upload {upload_id!r} holds {writer.size} bytes",
                {"size": writer.size},
            )
        return UploadAppender(self, name, upload_id, writer, info.algorithm)

    def complete(self, name: str, upload_id: str, digest: Digest, last_chunk: bytes = b"") -> int:
        """Append ``last_chunk``, check the whole content against ``digest``, and move it into place as a
        blob linked into ``name``. On a mismatch the upload is cancelled (DIGEST_INVALID)."""
        appender = self.open_append(name, upload_id)
        try:
            if last_chunk:
                appender.write(last_chunk)
            size = appender.finish()
        except BaseException:
            appender.abort()
            raise
        key = (name, upload_id)
        cached = self._hashers.pop(key, None)
        if cached is not None and cached[0] == size and cached[1].name == digest.algorithm:
            actual = f"{digest.algorithm}:{cached[1].hexdigest()}"
        else:
            actual = self._rehash(paths.upload_data(name, upload_id), digest)
        if actual != digest:
            self.cancel(name, upload_id)
            raise DigestMismatch(
                f"upload {upload_id!r} has digest {actual}, not {digest}",
                {"digest": str(digest), "actual": actual},
            )
        self.blobs.adopt(paths.upload_data(name, upload_id), digest)
        self.blobs.link(name, digest)
        self._remove(name, upload_id)
        return size

    def _rehash(self, path: str, digest: Digest) -> str:
        h = digest.hasher()
        with self.driver.reader(path) as f:
            while chunk := f.read(_READ_CHUNK):
                h.update(chunk)
        return f"{digest.algorithm}:{h.hexdigest()}"

    def cancel(self, name: str, upload_id: str) -> None:
        self.info(name, upload_id)  # UploadUnknown if absent
        self._remove(name, upload_id)

    def _remove(self, name: str, upload_id: str) -> None:
        self._hashers.pop((name, upload_id), None)
        try:
            self.driver.delete(paths.upload_dir(name, upload_id))
        except PathNotFound:
            pass

    def purge(self, name: str, older_than: float) -> list[str]:
        """Remove uploads of ``name`` started before ``older_than`` (epoch seconds); their ids."""
        removed = []
        try:
            ids = self.driver.list(paths.uploads_root(name))
        except PathNotFound:
            return []
        for upload_id in ids:
            try:
                info = self.info(name, upload_id)
            except (UploadUnknown, ValueError):
                continue
            if info.started < older_than:
                self._remove(name, upload_id)
                removed.append(upload_id)
        return removed
