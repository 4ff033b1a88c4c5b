"""Where everything lives inside a storage driver. The only module that builds storage paths.

::

    v2/
    ├── blobs/                                    content, shared by every repository (deduplicated)
    │   └── sha256/ab/abcd…/data                  the bytes; appears only complete and verified
    └── repositories/
        └── library/busybox/                      the repository name, one directory per component
            ├── _layers/sha256/abcd…/link         "this repository may serve that blob"
            ├── _manifests/
            │   ├── revisions/sha256/abcd…/link   {"digest", "mediaType", "size"} of a pushed manifest
            │   └── tags/latest/current/link      the digest the tag points at
            ├── _referrers/sha256/<subject hex>/
            │   └── sha256-<referrer hex>         the referrer's descriptor (JSON), for the referrers API
            └── _uploads/<uuid>/
                ├── data                          bytes received so far (appended in place)
                └── info                          {"algorithm", "started"}

Repository components start with a lowercase letter or digit, so they never collide with the ``_``-prefixed
directories. Every name and reference is validated before it reaches these functions; they check again.
"""

from __future__ import annotations

import re

from ketch._common.digest import Digest
from ketch._common.ids import validate_repository_name

__all__ = [
    "ROOT",
    "blob_data",
    "blob_dir",
    "blobs_root",
    "layer_link",
    "layers_root",
    "manifest_revision_link",
    "manifest_revisions_root",
    "referrer_entry",
    "referrers_dir",
    "repositories_root",
    "repository_dir",
    "tag_current_link",
    "tag_dir",
    "tags_root",
    "upload_data",
    "upload_dir",
    "upload_info",
    "uploads_root",
]

ROOT = "v2"
_UUID = re.compile(r"^[0-9a-f]{32}$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")


def _digest_parts(digest: Digest) -> tuple[str, str]:
    d = Digest(digest)  # re-validated: hex only, so no separators can sneak in
    return d.algorithm, d.hex


def blobs_root() -> str:
    return f"{ROOT}/blobs"


def blob_dir(digest: Digest) -> str:
    alg, hx = _digest_parts(digest)
    return f"{ROOT}/blobs/{alg}/{hx[:2]}/{hx}"


def blob_data(digest: Digest) -> str:
    return blob_dir(digest) + "/data"


def repositories_root() -> str:
    return f"{ROOT}/repositories"


def repository_dir(name: str) -> str:
    return f"{ROOT}/repositories/{validate_repository_name(name)}"


def layers_root(name: str) -> str:
    return repository_dir(name) + "/_layers"


def layer_link(name: str, digest: Digest) -> str:
    alg, hx = _digest_parts(digest)
    return f"{layers_root(name)}/{alg}/{hx}/link"


def manifest_revisions_root(name: str) -> str:
    return repository_dir(name) + "/_manifests/revisions"


def manifest_revision_link(name: str, digest: Digest) -> str:
    alg, hx = _digest_parts(digest)
    return f"{manifest_revisions_root(name)}/{alg}/{hx}/link"


def tags_root(name: str) -> str:
    return repository_dir(name) + "/_manifests/tags"


def _tag(tag: str) -> str:
    if not _TAG.match(tag):
        raise ValueError(f"invalid tag {tag!r}")
    return tag


def tag_dir(name: str, tag: str) -> str:
    return f"{tags_root(name)}/{_tag(tag)}"


def tag_current_link(name: str, tag: str) -> str:
    return tag_dir(name, tag) + "/current/link"


def referrers_dir(name: str, subject: Digest) -> str:
    alg, hx = _digest_parts(subject)
    return f"{repository_dir(name)}/_referrers/{alg}/{hx}"


def referrer_entry(name: str, subject: Digest, referrer: Digest) -> str:
    alg, hx = _digest_parts(referrer)
    return f"{referrers_dir(name, subject)}/{alg}-{hx}"


def uploads_root(name: str) -> str:
    return repository_dir(name) + "/_uploads"


def upload_dir(name: str, upload_id: str) -> str:
    if not _UUID.match(upload_id):
        raise ValueError(f"invalid upload id {upload_id!r}")
    return f"{uploads_root(name)}/{upload_id}"


def upload_data(name: str, upload_id: str) -> str:
    return upload_dir(name, upload_id) + "/data"


def upload_info(name: str, upload_id: str) -> str:
    return upload_dir(name, upload_id) + "/info"
