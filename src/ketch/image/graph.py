"""Walking the blobs an image reaches: index -> manifests -> config and layers."""

from __future__ import annotations

from collections.abc import Callable

from ketch.image.errors import BlobNotFound, InvalidImage
from ketch.spec.image import (
    INDEX_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPES,
    Descriptor,
    ImageSpecError,
    Index,
    Manifest,
)

__all__ = ["walk"]

_MAX_DEPTH = 8


def walk(
    read: Callable[[Descriptor], bytes],
    root: Descriptor,
    *,
    partial_indexes: bool = False,
    skip: Callable[[Descriptor], bool] | None = None,
    depth: int = 0,
) -> list[Descriptor]:
    """Every descriptor reachable from ``root``, ``root`` first.

    Indexes and manifests are read (so they must be present); configs and layers are listed, not read. Blobs
    of unknown media types are leaves. A manifest's ``subject`` is not followed: it is another image this one
    describes, not part of it. ``partial_indexes`` skips the entries of an index whose document is absent, as
    in exports that carry a multi-platform index but one platform's content only. ``skip(entry)`` true leaves
    out an index entry and everything below it (another platform's image, when importing one platform).
    """
    if depth > _MAX_DEPTH:
        raise InvalidImage(f"{root.digest}: indexes nested deeper than {_MAX_DEPTH}")
    out = [root]
    try:
        if root.media_type in INDEX_MEDIA_TYPES:
            index = Index.parse(read(root))
            for child in index.manifests:
                if skip is not None and skip(child):
                    continue
                try:
                    out += walk(read, child, partial_indexes=partial_indexes, skip=skip, depth=depth + 1)
                except BlobNotFound:
                    if not partial_indexes:
                        raise
        elif root.media_type in MANIFEST_MEDIA_TYPES:
            manifest = Manifest.parse(read(root))
            out += [manifest.config, *manifest.layers]
    except ImageSpecError as e:
        raise InvalidImage(f"{root.media_type} {root.digest}: {e}") from None
    return out
