"""Applying a layer blob from a content store: verify its digest, decompress, apply, check its DiffID."""

from __future__ import annotations

from ketch._common.digest import Digest, DigestMismatch
from ketch.image.content.protocol import ContentStore
from ketch.image.errors import BlobInvalid, UnsupportedMediaType
from ketch.image.layer.apply import ApplyStats, WhiteoutMode, apply_tar
from ketch.image.layer.stream import LayerStream
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
    # Reading, verifying, decompressing and hashing run in a thread of their own (layer.stream), overlapping
    # with the file writes of apply_tar.
    with LayerStream(content, layer, compression, (diff_id or layer.digest).algorithm) as stream:
        try:
            stats = apply_tar(stream.reader, target, whiteouts=whiteouts, same_owner=same_owner, name=what)
            # the tar's trailing blocks and any padding count toward the DiffID
            uncompressed = stream.finish()
        except DigestMismatch as e:
            raise BlobInvalid(f"{what}: {e}") from None
    if diff_id is not None and uncompressed != diff_id:
        raise BlobInvalid(f"{what}: uncompressed content has digest {uncompressed}, config says {diff_id}")
    return stats
