"""Reading and writing the JSON documents and layers of an image through a content store."""

from __future__ import annotations

import os
import tempfile
from typing import Any, BinaryIO

from ketch._common.digest import Digest, DigestMismatch
from ketch._common.jsonio import dumps_compact
from ketch.image.content.local import LocalContentStore, write_blob
from ketch.image.content.protocol import ContentStore
from ketch.image.errors import BlobInvalid, BlobNotFound
from ketch.spec.image import MT_OCI_LAYER, MT_OCI_LAYER_GZIP, MT_OCI_LAYER_ZSTD, Descriptor

__all__ = ["MAX_DOCUMENT", "put_json", "put_layer", "read_verified"]

MAX_DOCUMENT = 4 << 20  # manifests, indexes and configs are small; refuse to slurp anything bigger


def read_verified(content: ContentStore, desc: Descriptor, limit: int = MAX_DOCUMENT) -> bytes:
    """The bytes of a (small) blob, checked against the descriptor's digest and size."""
    if desc.data is not None:
        return desc.data  # verified when the descriptor was parsed (descriptor.md "Embedded Content")
    if desc.size > limit:
        raise BlobInvalid(
            f"blob {desc.digest} is {desc.size} bytes, more than the {limit} allowed for a document"
        )
    try:
        with content.open(desc.digest) as f:
            data = f.read(limit + 1)
    except BlobNotFound:
        raise BlobNotFound(f"blob {desc.digest} ({desc.media_type}) is not in the content store") from None
    if len(data) != desc.size:
        raise BlobInvalid(f"blob {desc.digest} has {len(data)} bytes, its descriptor says {desc.size}")
    if Digest.from_bytes(data, desc.digest.algorithm) != desc.digest:
        raise BlobInvalid(f"blob {desc.digest} does not match its digest")
    return data


def put_json(content: LocalContentStore, media_type: str, doc: dict[str, Any], **kw: Any) -> Descriptor:
    data = dumps_compact(doc)
    desc = Descriptor.for_bytes(media_type, data, **kw)
    write_blob(content, data, desc.digest, desc.size)
    return desc


def put_layer(
    content: LocalContentStore, tar: BinaryIO, compression: str = "gzip"
) -> tuple[Descriptor, Digest]:
    """Compress the tar stream ``tar`` into a layer blob; returns its descriptor and its DiffID."""
    media_type = {"": MT_OCI_LAYER, "gzip": MT_OCI_LAYER_GZIP, "zstd": MT_OCI_LAYER_ZSTD}[compression]
    os.makedirs(content.ingest_dir, exist_ok=True)
    from ketch.image.layer.compression import HashingReader, gzip_writer  # only writers need compression

    with tempfile.TemporaryFile(dir=content.ingest_dir) as tmp:
        hashed = HashingReader(tar)
        if compression == "gzip":
            with gzip_writer(tmp) as gz:
                while chunk := hashed.read(1 << 20):
                    gz.write(chunk)
        elif compression == "zstd":
            import zstandard

            with zstandard.ZstdCompressor().stream_writer(tmp, closefd=False) as zw:
                while chunk := hashed.read(1 << 20):
                    zw.write(chunk)
        else:
            while chunk := hashed.read(1 << 20):
                tmp.write(chunk)
        size = tmp.tell()
        tmp.seek(0)
        h = HashingReader(tmp)
        h.drain()
        digest = h.digest
        tmp.seek(0)
        try:
            write_blob(content, tmp, digest, size)
        except DigestMismatch as e:  # pragma: no cover - the file changed under us
            raise BlobInvalid(str(e)) from None
    return Descriptor(media_type=media_type, digest=digest, size=size), hashed.digest
