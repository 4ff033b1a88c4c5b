"""Registry storage: blobs, uploads, manifests, tags and referrers over a :class:`StorageDriver`."""

from ketch.registry.storage.blobs import BlobStore
from ketch.registry.storage.errors import (
    BlobUnknown,
    DigestMismatch,
    InvalidReference,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    RepositoryUnknown,
    SizeMismatch,
    StorageError,
    UploadInvalid,
    UploadOutOfOrder,
    UploadUnknown,
)
from ketch.registry.storage.manifests import ManifestStore, PushResult, StoredManifest, parse_reference
from ketch.registry.storage.registry import RegistryStore, check_name
from ketch.registry.storage.uploads import UploadAppender, UploadInfo, UploadStore

__all__ = [
    "BlobStore",
    "BlobUnknown",
    "DigestMismatch",
    "InvalidReference",
    "ManifestBlobUnknown",
    "ManifestInvalid",
    "ManifestStore",
    "ManifestUnknown",
    "PushResult",
    "RegistryStore",
    "RepositoryUnknown",
    "SizeMismatch",
    "StorageError",
    "StoredManifest",
    "UploadAppender",
    "UploadInfo",
    "UploadInvalid",
    "UploadOutOfOrder",
    "UploadStore",
    "UploadUnknown",
    "check_name",
    "parse_reference",
]
