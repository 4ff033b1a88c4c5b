"""Blob upload sessions (spec.md "Pushing blobs"), kept in storage so any registry process sharing the storage
can continue or finish an upload another one started.

The digest is computed incrementally while bytes arrive; this process keeps the running hash of uploads it
has seen from the start. When another process appended in between (or this one restarted), the bytes are
hashed again from storage at completion, so the result never depends on which process served which chunk.

Durability is paid once, at completion: a session's files and its chunks are written without fsync, and
:meth:`UploadStore.complete` syncs the data before the blob is moved into place and linked. A machine crash
can therefore lose a session or the tail of its chunks; the client then sees BLOB_UPLOAD_UNKNOWN, a 416 with
the Range really held, or DIGEST_INVALID at completion (after a restart the bytes are re-hashed from
storage), never a blob whose content differs from its digest.
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

    def write_all(self, chunks: list[bytes]) -> None:
        """Append several chunks in order (called from a worker thread: the writes and the hashing release
        the GIL, so the event loop keeps receiving meanwhile)."""
        for chunk in chunks:
            self.write(chunk)

    def finish(self, durable: bool = False) -> int:
        """Close the append. Not durable by default: :meth:`UploadStore.complete` syncs the whole upload
        once, before it becomes a blob."""
        self._writer.commit(durable)
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
        # atomic (rename) but not synced: a session lost to a machine crash is only BLOB_UPLOAD_UNKNOWN to
        # the client, which starts over; nothing it was told is stored depends on these files
        for path, content in (
            (paths.upload_data(name, upload_id), b""),
            (paths.upload_info(name, upload_id), json.dumps(info).encode()),
        ):
            w = self.driver.writer(path)
            try:
                w.write(content)
            except BaseException:
                w.cancel()
                raise
            w.commit(durable=False)
        self._hashers[(name, upload_id)] = (0, hashlib.new(algorithm))
        return UploadInfo(upload_id, 0, algorithm, started)

    def info(self, name: str, upload_id: str) -> UploadInfo:
        try:
            raw = self.driver.get_content(paths.upload_info(name, upload_id))
            size = self.driver.stat(paths.upload_data(name, upload_id)).size
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise ValueError("upload info is not an object")
        except (PathNotFound, ValueError):
            # absent, or unreadable after a machine crash (the session files are not synced)
            raise UploadUnknown(f"upload {upload_id!r} is unknown to repository {name!r}") from None
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
            # the one fsync of the upload's bytes (fsync covers the file, whichever fd wrote them)
            size = appender.finish(durable=True)
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

    def _last_modified(self, name: str, upload_id: str) -> float | None:
        """When a session whose info a machine crash left unreadable (or one being created right now) was
        last written: its data file's time, else its directory's; None when neither tells (S3 prefixes have
        no time), and then the session is left alone."""
        for path in (paths.upload_data(name, upload_id), paths.upload_dir(name, upload_id)):
            try:
                mtime = self.driver.stat(path).mtime
            except (PathNotFound, ValueError):
                continue
            if mtime > 0:
                return mtime
        return None

    def purge(self, name: str, older_than: float) -> list[str]:
        """Remove uploads of ``name`` started before ``older_than`` (epoch seconds); their ids."""
        removed = []
        try:
            ids = self.driver.list(paths.uploads_root(name))
        except PathNotFound:
            return []
        for upload_id in ids:
            try:
                started = self.info(name, upload_id).started
            except UploadUnknown:
                aged = self._last_modified(name, upload_id)
                if aged is None:
                    continue
                started = aged
            except ValueError:
                continue
            if started < older_than:
                self._remove(name, upload_id)
                removed.append(upload_id)
        return removed
