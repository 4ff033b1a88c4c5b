"""Walking the blobs an image reaches: index -> manifests -> config, layers (and subjects' referrers no)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ketch.image.errors import InvalidImage
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


def walk(read: Callable[[Descriptor], bytes], root: Descriptor, *, depth: int = 0) -> Iterator[Descriptor]:
    """Every descriptor reachable from ``root`` (itself first), children before going deeper.

    Blobs of unknown media types are leaves. The manifest's ``subject`` is not followed: it points at another
    image that this one describes, which is not part of it.
    """
    yield root
    if depth > _MAX_DEPTH:
        raise InvalidImage(f"{root.digest}: indexes nested deeper than {_MAX_DEPTH}")
    try:
        if root.media_type in INDEX_MEDIA_TYPES:
            index = Index.parse(read(root))
            for child in index.manifests:
                yield from walk(read, child, depth=depth + 1)
        elif root.media_type in MANIFEST_MEDIA_TYPES:
            manifest = Manifest.parse(read(root))
            yield manifest.config
            yield from manifest.layers
    except ImageSpecError as e:
        raise InvalidImage(f"{root.media_type} {root.digest}: {e}") from None
