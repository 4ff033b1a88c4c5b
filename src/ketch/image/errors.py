"""Errors of the image subpackage.

::

    ImageError
     ├── ContentError            the content store
     │    ├── BlobNotFound       no blob with that digest
     │    ├── BlobInvalid        bytes did not match the announced digest or size
     │    └── IngestBusy         another writer holds the same ingest ref
     ├── ImageNotFound           no image by that name / digest
     ├── InvalidImage            a manifest, index or config is malformed or refers to unusable content
     │    ├── UnsupportedMediaType
     │    └── PlatformNotFound   no manifest in an index matches the wanted platform
     ├── LayerError              a layer cannot be applied
     │    ├── UnsafeLayerEntry   an entry would write outside the target (path traversal, link escape)
     │    └── CorruptLayer       truncated/invalid compression or tar, bad whiteout
     ├── SnapshotError           snapshotter state (missing parent, key in use, mount failure)
     ├── ConvertError           image config cannot become a runtime config (unknown user, ...)
     └── ArchiveError            an oci-archive / docker-archive / layout is malformed
"""

from __future__ import annotations

__all__ = [
    "ArchiveError",
    "BlobInvalid",
    "BlobNotFound",
    "ContentError",
    "ConvertError",
    "CorruptLayer",
    "ImageError",
    "ImageNotFound",
    "IngestBusy",
    "InvalidImage",
    "LayerError",
    "PlatformNotFound",
    "SnapshotError",
    "UnsafeLayerEntry",
    "UnsupportedMediaType",
]


class ImageError(Exception):
    """Base of every error raised by ketch.image."""


class ContentError(ImageError):
    pass


class BlobNotFound(ContentError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "blob not found"


class BlobInvalid(ContentError):
    pass


class IngestBusy(ContentError):
    pass


class ImageNotFound(ImageError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "image not found"


class InvalidImage(ImageError):
    pass


class UnsupportedMediaType(InvalidImage):
    pass


class PlatformNotFound(InvalidImage):
    pass


class LayerError(ImageError):
    pass


class UnsafeLayerEntry(LayerError):
    pass


class CorruptLayer(LayerError):
    pass


class SnapshotError(ImageError):
    pass


class ConvertError(ImageError):
    pass


class ArchiveError(ImageError):
    pass
