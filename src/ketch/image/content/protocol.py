"""The content store contract: blobs addressed by digest, written through verifying, resumable ingests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol

from ketch._common.digest import Digest
from ketch._common.model import model

__all__ = ["BlobInfo", "ContentStore", "ContentWriter"]


@model(frozen=True)
class BlobInfo:
    digest: Digest
    size: int


class ContentWriter(Protocol):
    """One ingest in progress. Bytes are hashed as they arrive; nothing is visible until :meth:`commit`."""

    @property
    def offset(self) -> int:
        """How many bytes the ingest holds; a resumed ingest continues from here."""
        ...

    def write(self, data: bytes) -> None:
        """Append ``data``. Raises BlobInvalid at once if the ingest grows past its expected size."""
        ...

    def commit(self) -> BlobInfo:
        """Verify size and digest, then publish the blob atomically: afterwards it is there, whole, or (on
        any error or crash) not there at all. A blob already present is success. The ingest is gone after."""
        ...

    def close(self) -> None:
        """Release the ingest without publishing; its bytes stay so the ingest can be resumed by ref."""
        ...

    def abort(self) -> None:
        """Drop the ingest and its bytes."""
        ...


class ContentStore(Protocol):
    """Immutable blobs by digest.

    Readers never see partial blobs: a blob exists only after an atomic commit. Writers of the same blob under
    different refs may race safely (the content is the same; one rename wins). Writers under the same ref are
    exclusive (the second gets IngestBusy).
    """

    def info(self, digest: Digest) -> BlobInfo:
        """Size of a committed blob; BlobNotFound if absent. Read-only."""
        ...

    def open(self, digest: Digest) -> BinaryIO:
        """A reader over a committed blob; BlobNotFound if absent. Read-only."""
        ...

    def writer(self, ref: str, expected: Digest, size: int | None = None) -> ContentWriter:
        """Start, or resume from its current offset, the ingest called ``ref`` of a blob ``expected``."""
        ...

    def delete(self, digest: Digest) -> None:
        """Remove a blob (one unlink: atomic). BlobNotFound if absent."""
        ...

    def walk(self) -> Iterator[BlobInfo]:
        """Every committed blob. Never yields ingests in progress."""
        ...
