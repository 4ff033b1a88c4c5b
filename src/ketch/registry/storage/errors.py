"""Errors of the registry's storage layer. Each carries the distribution error ``code`` it maps to.

::

    StorageError
    ├── BlobUnknown              (BLOB_UNKNOWN)
    ├── UploadUnknown            (BLOB_UPLOAD_UNKNOWN)
    ├── UploadInvalid            (BLOB_UPLOAD_INVALID)
    │   └── UploadOutOfOrder     (RANGE_INVALID, 416)
    ├── DigestMismatch           (DIGEST_INVALID)
    ├── SizeMismatch             (SIZE_INVALID)
    ├── ManifestUnknown          (MANIFEST_UNKNOWN)
    ├── ManifestInvalid          (MANIFEST_INVALID)
    │   └── ManifestBlobUnknown  (MANIFEST_BLOB_UNKNOWN)
    ├── RepositoryUnknown        (NAME_UNKNOWN)
    └── InvalidReference         (NAME_INVALID / TAG_INVALID / DIGEST_INVALID by ``code``)
"""

from __future__ import annotations

__all__ = [
    "BlobUnknown",
    "DigestMismatch",
    "InvalidReference",
    "ManifestBlobUnknown",
    "ManifestInvalid",
    "ManifestUnknown",
    "RepositoryUnknown",
    "SizeMismatch",
    "StorageError",
    "UploadInvalid",
    "UploadOutOfOrder",
    "UploadUnknown",
]


class StorageError(Exception):
    code = "UNKNOWN"
    status: int | None = None

    def __init__(self, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.detail = detail


class BlobUnknown(StorageError):
    code = "BLOB_UNKNOWN"


class UploadUnknown(StorageError):
    code = "BLOB_UPLOAD_UNKNOWN"


class UploadInvalid(StorageError):
    code = "BLOB_UPLOAD_INVALID"


class UploadOutOfOrder(UploadInvalid):
    code = "BLOB_UPLOAD_INVALID"
    status = 416


class DigestMismatch(StorageError):
    code = "DIGEST_INVALID"


class SizeMismatch(StorageError):
    code = "SIZE_INVALID"


class ManifestUnknown(StorageError):
    code = "MANIFEST_UNKNOWN"


class ManifestInvalid(StorageError):
    code = "MANIFEST_INVALID"


class ManifestBlobUnknown(ManifestInvalid):
    code = "MANIFEST_BLOB_UNKNOWN"


class RepositoryUnknown(StorageError):
    code = "NAME_UNKNOWN"


class InvalidReference(StorageError):
    def __init__(self, message: str, code: str = "NAME_INVALID") -> None:
        super().__init__(message)
        self.code = code
