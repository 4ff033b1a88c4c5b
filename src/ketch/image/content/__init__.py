"""Content-addressed blob storage."""

from ketch.image.content.local import LocalContentStore, LocalWriter, write_blob
from ketch.image.content.protocol import BlobInfo, ContentStore, ContentWriter

__all__ = ["BlobInfo", "ContentStore", "ContentWriter", "LocalContentStore", "LocalWriter", "write_blob"]
