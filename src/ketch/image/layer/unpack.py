"""Applying a layer blob from a content store: verify its digest, decompress, apply, check its DiffID."""

from __future__ import annotations

from typing import BinaryIO, cast

from ketch._common.digest import Digest, DigestMismatch, VerifyingReader
from ketch.image.content.protocol import ContentStore
from ketch.image.errors import BlobInvalid, UnsupportedMediaType
from ketch.image.layer.apply import ApplyStats, WhiteoutMode, apply_tar
from ketch.image.layer.compression import HashingReader, decompressor
from ketch.spec.image import LAYER_MEDIA_TYPES, Descriptor

__all__ = ["apply_layer"]


def apply_layer(
    content: ContentStore,
    layer: Descriptor,
    target: str,
    *,
    diff_id: Digest | None = None,
    whiteouts: WhiteoutMode = "remove",
    same_owner: bool | None = None,
) -> ApplyStats:
    """Apply ``layer`` (a blob of ``content``) onto ``target``.

    The compressed bytes are checked against ``layer.digest``/``layer.size`` and the uncompressed ones against
    ``diff_id`` (config.md rootfs.diff_ids) once the stream ends; a mismatch raises BlobInvalid. The target may
    then hold part of the layer: callers extract into a scratch directory and publish it only on success.
    """
    compression = LAYER_MEDIA_TYPES.get(layer.media_type)
    if compression is None:
        raise UnsupportedMediaType(f"layer {layer.digest}: unsupported layer media type {layer.media_type!r}")
    what = f"layer {layer.digest}"
    with content.open(layer.digest) as raw:
        verified = VerifyingReader(raw, layer.digest, layer.size)
        try:
            plain = decompressor(cast(BinaryIO, verified), compression, what)
            hashed = HashingReader(plain, (diff_id or layer.digest).algorithm)
            stats = apply_tar(
                cast(BinaryIO, hashed), target, whiteouts=whiteouts, same_owner=same_owner, name=what
            )
            hashed.drain()  # the tar's trailing blocks and any padding count toward the DiffID
            while verified.read(1 << 20):
                pass
        except DigestMismatch as e:
            raise BlobInvalid(f"{what}: {e}") from None
    if diff_id is not None and hashed.digest != diff_id:
        raise BlobInvalid(f"{what}: uncompressed content has digest {hashed.digest}, config says {diff_id}")
    return stats
