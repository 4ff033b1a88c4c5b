"""Referrers (spec.md "Listing Referrers", end-12) and attaching artifacts to an image.

Registries without the referrers API (CNCF distribution 2.8 answers 404 on the endpoint) are served by the
referrers tag schema (spec.md "Referrers Tag Schema"): an index tagged ``<alg>-<hex of the subject digest>``
lists the referrers; a client pushing a manifest with a ``subject`` to such a registry updates that index.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import BinaryIO

from ketch._common.digest import Digest
from ketch.registry.client.errors import NotFound, Unsupported
from ketch.registry.client.repository import Repository
from ketch.spec.distribution import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST
from ketch.spec.image import Descriptor, ImageSpecError, Index, Manifest

__all__ = ["EMPTY_CONFIG", "attach", "fallback_tag", "list_referrers"]

EMPTY_CONFIG = b"{}"


def fallback_tag(digest: Digest) -> str:
    """``sha256-<hex>`` (truncated to the 128 characters a tag may have)."""
    return f"{digest.algorithm}-{digest.hex}"[:128]


def _parse_index(data: bytes, what: str) -> Index:
    try:
        return Index.parse(data)
    except ImageSpecError as e:
        raise Unsupported(f"{what}: {e}") from None


def list_referrers(
    repo: Repository, subject: Digest, artifact_type: str | None = None
) -> tuple[list[Descriptor], str]:
    """The referrers of ``subject`` and how they were found (``"api"`` or ``"tag-schema"``)."""
    found = repo.referrers(subject, artifact_type)
    how = "api"
    filtered = False
    if found is not None:
        data, filtered = found
        entries = _parse_index(data, f"referrers of {repo.name}@{subject}").manifests
    else:
        how = "tag-schema"
        try:
            _, data = repo.fetch_manifest(fallback_tag(subject))
        except NotFound:
            return [], how
        entries = _parse_index(data, f"referrers tag {fallback_tag(subject)} of {repo.name}").manifests
    if artifact_type and not filtered:
        entries = [e for e in entries if e.artifact_type == artifact_type]
    return entries, how


def attach(
    repo: Repository,
    subject: Descriptor,
    artifact_type: str,
    files: list[tuple[Descriptor, Callable[[], BinaryIO]]],
    annotations: dict[str, str] | None = None,
) -> tuple[Descriptor, str]:
    """Push an artifact manifest (image-spec manifest.md "Guidelines for Artifact Usage": empty config,
    ``artifactType``, the files as layers) whose ``subject`` is ``subject``. Returns its descriptor and how
    the registry learnt of the reference (``"api"`` when it answered with ``OCI-Subject``, else the tag
    schema was updated)."""
    empty = Descriptor(media_type=OCI_EMPTY, digest=Digest.from_bytes(EMPTY_CONFIG), size=len(EMPTY_CONFIG))
    repo.upload_blob(empty, lambda: _BytesFile(EMPTY_CONFIG))  # type: ignore[arg-type,return-value]
    for desc, opener in files:
        repo.upload_blob(desc, opener)
    manifest = Manifest(
        config=empty,
        layers=[d for d, _ in files] or [empty],
        media_type=OCI_MANIFEST,
        artifact_type=artifact_type,
        subject=Descriptor(media_type=subject.media_type, digest=subject.digest, size=subject.size),
        annotations=annotations,
    )
    data = json.dumps(manifest.to_json(), separators=(",", ":")).encode()
    digest, resp = repo.put_manifest(str(Digest.from_bytes(data)), OCI_MANIFEST, data)
    desc = Descriptor(
        media_type=OCI_MANIFEST,
        digest=digest,
        size=len(data),
        artifact_type=artifact_type,
        annotations=annotations,
    )
    if resp.headers.get("OCI-Subject"):
        return desc, "api"
    # spec.md "Pushing Manifests with Subject": without OCI-Subject the client updates the tag schema index.
    tag = fallback_tag(subject.digest)
    try:
        _, existing = repo.fetch_manifest(tag)
        index = _parse_index(existing, f"referrers tag {tag} of {repo.name}")
    except NotFound:
        index = Index(manifests=[], media_type=OCI_INDEX)
    if not any(e.digest == desc.digest for e in index.manifests):
        index.manifests.append(desc)
    repo.put_manifest(tag, OCI_INDEX, json.dumps(index.to_json(), separators=(",", ":")).encode())
    return desc, "tag-schema"


class _BytesFile:
    def __init__(self, data: bytes) -> None:
        import io

        self._f = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)

    def close(self) -> None:
        pass

    def __enter__(self) -> _BytesFile:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
