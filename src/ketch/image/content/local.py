"""A content store on the local filesystem: ``<root>/blobs/<alg>/<hex>`` (the OCI image-layout shape).

Ingests live in ``<root>/ingest/<sha256 of the ref>/`` (``data``, ``ref``, ``lock``). A commit fsyncs the data,
renames it to its blob path and fsyncs the directory: a crash at any moment leaves the whole blob or none.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import BinaryIO

from ketch._common.atomicio import FileLock, fsync_dir
from ketch._common.digest import ALGORITHMS, Digest, InvalidDigest
from ketch.image.content.protocol import BlobInfo
from ketch.image.errors import BlobInvalid, BlobNotFound, IngestBusy

__all__ = ["LocalContentStore", "LocalWriter", "write_blob"]

_CHUNK = 1 << 20


class LocalContentStore:
    def __init__(self, root: str, *, ingest_dir: str | None = None, durable: bool = True) -> None:
        self.root = root
        self.ingest_dir = ingest_dir or os.path.join(root, "ingest")
        self.durable = durable

    def blob_path(self, digest: Digest) -> str:
        return os.path.join(self.root, "blobs", digest.algorithm, digest.hex)

    def info(self, digest: Digest) -> BlobInfo:
        try:
            st = os.stat(self.blob_path(digest))
        except FileNotFoundError:
            raise BlobNotFound(f"blob {digest} not found") from None
        return BlobInfo(digest, st.st_size)

    def has(self, digest: Digest) -> bool:
        return os.path.exists(self.blob_path(digest))

    def open(self, digest: Digest) -> BinaryIO:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise BlobNotFound(f"blob {digest} not found") from None

    def read(self, digest: Digest, limit: int = 64 << 20) -> bytes:
        """A whole (small) blob; refuses blobs over ``limit`` bytes (manifests and configs are small)."""
        with self.open(digest) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise BlobInvalid(f"blob {digest} is larger than {limit} bytes")
        return data

    def writer(self, ref: str, expected: Digest, size: int | None = None) -> LocalWriter:
        return LocalWriter(self, ref, expected, size)

    def delete(self, digest: Digest) -> None:
        try:
            os.unlink(self.blob_path(digest))
        except FileNotFoundError:
            raise BlobNotFound(f"blob {digest} not found") from None

    def walk(self) -> Iterator[BlobInfo]:
        base = os.path.join(self.root, "blobs")
        for alg in sorted(ALGORITHMS):
            try:
                names = sorted(os.listdir(os.path.join(base, alg)))
            except FileNotFoundError:
                continue
            for name in names:
                try:
                    digest = Digest(f"{alg}:{name}")
                except InvalidDigest:
                    continue  # not ours (a stray file); never reported as a blob
                with contextlib.suppress(FileNotFoundError):
                    yield BlobInfo(digest, os.stat(os.path.join(base, alg, name)).st_size)

    def ingests(self) -> list[str]:
        """The refs of ingests in progress (for resuming or cleaning up)."""
        refs = []
        try:
            names = os.listdir(self.ingest_dir)
        except FileNotFoundError:
            return []
        for name in names:
            with (
                contextlib.suppress(FileNotFoundError),
                open(os.path.join(self.ingest_dir, name, "ref")) as f,
            ):
                refs.append(f.read())
        return sorted(refs)


class LocalWriter:
    def __init__(self, store: LocalContentStore, ref: str, expected: Digest, size: int | None) -> None:
        self._store = store
        self.ref = ref
        self.expected = expected
        self.size = size
        key = Digest.from_bytes(ref.encode()).hex
        self._dir = os.path.join(store.ingest_dir, key)
        os.makedirs(self._dir, exist_ok=True)
        self._lock = FileLock(os.path.join(self._dir, "lock"))
        if not self._lock.acquire(blocking=False):
            raise IngestBusy(f"ingest {ref!r} is being written by another writer")
        try:
            self._open()
        except BaseException:
            self._lock.release()
            raise

    def _open(self) -> None:
        ref_path = os.path.join(self._dir, "ref")
        expected_path = os.path.join(self._dir, "expected")
        data_path = os.path.join(self._dir, "data")
        if os.path.exists(expected_path):
            with open(expected_path) as f:
                previous = f.read()
            if previous != self.expected:
                # The same ref used for other content: the old bytes are worthless for this blob.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(data_path)
        for path, text in ((ref_path, self.ref), (expected_path, str(self.expected))):
            with open(path, "w") as f:
                f.write(text)
        self._fd = os.open(data_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._hasher = self.expected.hasher()
        # Resume: re-hash what an earlier writer left (hash state cannot be saved portably).
        self._offset = 0
        while True:
            chunk = os.pread(self._fd, _CHUNK, self._offset)
            if not chunk:
                break
            self._hasher.update(chunk)
            self._offset += len(chunk)
        if self.size is not None and self._offset > self.size:
            self.abort()
            raise BlobInvalid(f"ingest {self.ref!r} holds more than the {self.size} bytes of {self.expected}")

    @property
    def offset(self) -> int:
        return self._offset

    def write(self, data: bytes) -> None:
        if self._fd < 0:
            raise ValueError(f"ingest {self.ref!r} is closed")
        if self.size is not None and self._offset + len(data) > self.size:
            self.abort()
            raise BlobInvalid(f"content of {self.expected} is longer than its size {self.size}")
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, self._offset)
            self._offset += n
            self._hasher.update(view[:n])
            view = view[n:]

    def copy_from(self, stream: BinaryIO) -> None:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                return
            self.write(chunk)

    def commit(self) -> BlobInfo:
        if self._fd < 0:
            raise ValueError(f"ingest {self.ref!r} is closed")
        try:
            if self.size is not None and self._offset != self.size:
                raise BlobInvalid(
                    f"content of {self.expected} has {self._offset} bytes, expected {self.size}"
                )
            actual = f"{self.expected.algorithm}:{self._hasher.hexdigest()}"
            if actual != self.expected:
                raise BlobInvalid(f"content digest {actual} does not match {self.expected}")
            if self._store.durable:
                os.fsync(self._fd)
            target = self._store.blob_path(self.expected)
            parent = os.path.dirname(target)
            os.makedirs(parent, exist_ok=True)
            os.chmod(os.path.join(self._dir, "data"), 0o644)
            # rename(2) is atomic: readers see no blob or the whole blob. A concurrent writer of the same blob
            # renames identical bytes over it, which changes nothing a reader can observe.
            os.rename(os.path.join(self._dir, "data"), target)
            if self._store.durable:
                fsync_dir(parent)
        except BaseException:
            self.abort()
            raise
        info = BlobInfo(self.expected, self._offset)
        self._finish()
        return info

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._lock.release()

    def abort(self) -> None:
        self._finish()

    def _finish(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        shutil.rmtree(self._dir, ignore_errors=True)
        self._lock.release()

    def __enter__(self) -> LocalWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        # Leaving the block without a commit keeps the bytes for a later resume, unless it failed on content.
        if self._fd >= 0:
            self.close()


def write_blob(
    store: LocalContentStore,
    data: bytes | BinaryIO,
    expected: Digest,
    size: int | None = None,
    ref: str | None = None,
) -> BlobInfo:
    """Ingest ``data`` (bytes or a stream) as ``expected`` in one go; an existing blob is success at once."""
    with contextlib.suppress(BlobNotFound):
        return store.info(expected)
    w = store.writer(ref or f"write-{expected}-{os.urandom(8).hex()}", expected, size)
    try:
        if isinstance(data, bytes):
            w.write(data)
        else:
            w.copy_from(data)
        return w.commit()
    except BaseException:
        w.abort()
        raise
