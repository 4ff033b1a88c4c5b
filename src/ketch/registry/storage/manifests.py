"""Manifests, tags and the referrers index of each repository.

A manifest's bytes are stored as a blob, byte for byte as pushed (its digest is of those bytes); the
repository records a revision link with the media type it was pushed with, so GET returns the same
Content-Type. Tags are links to revisions. A manifest with a ``subject`` adds an entry under the subject's
digest in ``_referrers``, whether or not the subject exists yet (spec.md "Pushing Manifests with Subject").
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ketch._common.digest import ALGORITHMS, Digest, InvalidDigest
from ketch.registry.storage import paths
from ketch.registry.storage.blobs import BlobStore
from ketch.registry.storage.driver import PathNotFound, StorageDriver
from ketch.registry.storage.errors import (
    BlobUnknown,
    DigestMismatch,
    InvalidReference,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    RepositoryUnknown,
)
from ketch.spec.distribution import (
    OCI_MANIFEST,
    InvalidManifest,
    ManifestInfo,
    is_digest_reference,
    parse_manifest,
    validate_tag,
)

__all__ = ["ManifestStore", "PushResult", "StoredManifest", "parse_reference"]


@dataclass(frozen=True)
class StoredManifest:
    digest: Digest
    media_type: str
    size: int


@dataclass(frozen=True)
class PushResult:
    digest: Digest
    subject: Digest | None
    tags: tuple[str, ...]


def parse_reference(reference: str) -> Digest | str:
    """A manifest reference is a digest (``alg:hex``) or a tag; anything else is refused."""
    if is_digest_reference(reference):
        try:
            return Digest(reference)
        except InvalidDigest as e:
            raise InvalidReference(str(e), "DIGEST_INVALID") from None
    try:
        return validate_tag(reference)
    except InvalidManifest as e:
        raise InvalidReference(str(e), "TAG_INVALID") from None


class ManifestStore:
    def __init__(self, driver: StorageDriver, blobs: BlobStore) -> None:
        self.driver = driver
        self.blobs = blobs

    # --- reading -------------------------------------------------------------------------------------------

    def repository_exists(self, name: str) -> bool:
        try:
            self.driver.stat(paths.repository_dir(name))
        except PathNotFound:
            return False
        return True

    def resolve(self, name: str, reference: str) -> Digest:
        ref = parse_reference(reference)
        if isinstance(ref, Digest):
            return ref
        try:
            return Digest(self.driver.get_content(paths.tag_current_link(name, ref)).decode())
        except PathNotFound:
            raise ManifestUnknown(f"tag {ref!r} is unknown to repository {name!r}", {"tag": ref}) from None

    def stat(self, name: str, reference: str) -> StoredManifest:
        digest = self.resolve(name, reference)
        try:
            doc = json.loads(self.driver.get_content(paths.manifest_revision_link(name, digest)))
        except PathNotFound:
            raise ManifestUnknown(
                f"manifest {digest} is unknown to repository {name!r}", {"digest": str(digest)}
            ) from None
        return StoredManifest(digest, str(doc["mediaType"]), int(doc["size"]))

    def get(self, name: str, reference: str) -> tuple[StoredManifest, bytes]:
        meta = self.stat(name, reference)
        try:
            return meta, self.blobs.get(meta.digest)
        except BlobUnknown:
            raise ManifestUnknown(
                f"manifest {meta.digest} content is missing", {"digest": str(meta.digest)}
            ) from None

    def tags(self, name: str) -> list[str]:
        if not self.repository_exists(name):
            raise RepositoryUnknown(f"repository {name!r} is not known", {"name": name})
        try:
            names = self.driver.list(paths.tags_root(name))
        except PathNotFound:
            return []
        out = []
        for tag in names:
            try:
                self.driver.stat(paths.tag_current_link(name, tag))
            except (PathNotFound, ValueError):
                continue
            out.append(tag)
        return sorted(out)

    def revisions(self, name: str) -> list[Digest]:
        out: list[Digest] = []
        for alg in ALGORITHMS:
            try:
                hexes = self.driver.list(f"{paths.manifest_revisions_root(name)}/{alg}")
            except PathNotFound:
                continue
            for hx in hexes:
                try:
                    out.append(Digest(f"{alg}:{hx}"))
                except InvalidDigest:
                    continue
        return out

    def referrers(
        self, name: str, subject: Digest, artifact_type: str | None = None
    ) -> list[dict[str, object]]:
        """Descriptors of the manifests whose subject is ``subject`` (spec.md "Listing Referrers")."""
        try:
            entries = self.driver.list(paths.referrers_dir(name, subject))
        except PathNotFound:
            return []
        out: list[dict[str, object]] = []
        for entry in entries:
            try:
                desc = json.loads(self.driver.get_content(f"{paths.referrers_dir(name, subject)}/{entry}"))
            except (PathNotFound, ValueError):
                continue
            if artifact_type is not None and desc.get("artifactType") != artifact_type:
                continue
            out.append(desc)
        out.sort(key=lambda d: str(d.get("digest")))
        return out

    # --- writing -------------------------------------------------------------------------------------------

    def put(
        self,
        name: str,
        reference: str,
        body: bytes,
        content_type: str | None,
        extra_tags: tuple[str, ...] = (),
    ) -> PushResult:
        """Validate and store a manifest pushed as ``reference`` (a tag or its digest), tagging it with the
        reference when that is a tag and with every name in ``extra_tags`` (spec.md end-7, ``?tag=``)."""
        ref = parse_reference(reference)
        tags = list(extra_tags)
        for t in tags:
            if is_digest_reference(t):
                raise InvalidReference(f"tag parameter {t!r} is a digest, not a tag", "TAG_INVALID")
            parse_reference(t)
        if isinstance(ref, Digest):
            digest = Digest.from_bytes(body, ref.algorithm)
            if digest != ref:
                raise DigestMismatch(
                    f"manifest body has digest {digest}, not {ref} named in the URL",
                    {"digest": str(ref), "actual": str(digest)},
                )
        else:
            digest = Digest.from_bytes(body)
            tags.insert(0, ref)
        try:
            info = parse_manifest(body, content_type)
        except InvalidManifest as e:
            raise ManifestInvalid(str(e)) from None
        self._check_references(name, info)

        self.blobs.put(body, digest)
        media_type = info.media_type
        revision = {"digest": str(digest), "mediaType": media_type, "size": len(body)}
        self.driver.put_content(paths.manifest_revision_link(name, digest), json.dumps(revision).encode())
        subject = None
        if info.subject is not None:
            subject = info.subject.digest
            self.driver.put_content(
                paths.referrer_entry(name, subject, digest),
                json.dumps(_referrer_descriptor(info, digest, len(body))).encode(),
            )
        for tag in dict.fromkeys(tags):
            self.driver.put_content(paths.tag_current_link(name, tag), str(digest).encode())
        return PushResult(digest, subject, tuple(dict.fromkeys(tags)))

    def _check_references(self, name: str, info: ManifestInfo) -> None:
        missing: list[str] = []
        for desc in info.blobs:
            if desc.urls:
                continue  # non-distributable layer fetched from its urls (image-spec descriptor.md "urls")
            if not self.blobs.is_linked(name, desc.digest):
                missing.append(str(desc.digest))
                continue
            try:
                actual = self.blobs.size(desc.digest)
            except BlobUnknown:
                missing.append(str(desc.digest))
                continue
            if actual != desc.size:
                raise ManifestInvalid(
                    f"descriptor of {desc.digest} gives size {desc.size}, but the blob has {actual} bytes",
                    {"digest": str(desc.digest), "size": actual},
                )
        for desc in info.children:
            try:
                self.driver.stat(paths.manifest_revision_link(name, desc.digest))
            except PathNotFound:
                missing.append(str(desc.digest))
        if missing:
            raise ManifestBlobUnknown(
                f"manifest refers to {len(missing)} blob(s) or manifest(s) unknown to repository {name!r}: "
                + ", ".join(missing[:5]),
                [{"digest": d} for d in missing],
            )

    def delete(self, name: str, digest: Digest) -> None:
        """Delete a manifest revision, the tags pointing at it and its referrers entry."""
        meta = self.stat(name, digest)
        try:
            body = self.blobs.get(meta.digest)
            info: ManifestInfo | None = parse_manifest(body, meta.media_type)
        except (BlobUnknown, InvalidManifest):
            info = None
        for tag in self.tags(name):
            try:
                if self.resolve(name, tag) == digest:
                    self.driver.delete(paths.tag_dir(name, tag))
            except (ManifestUnknown, PathNotFound):
                continue
        try:
            self.driver.delete(paths.manifest_revision_link(name, digest).rsplit("/", 1)[0])
        except PathNotFound:
            pass
        if info is not None and info.subject is not None:
            try:
                self.driver.delete(paths.referrer_entry(name, info.subject.digest, digest))
            except PathNotFound:
                pass

    def untag(self, name: str, tag: str) -> None:
        validate_tag(tag)
        try:
            self.driver.stat(paths.tag_current_link(name, tag))
            self.driver.delete(paths.tag_dir(name, tag))
        except PathNotFound:
            raise ManifestUnknown(f"tag {tag!r} is unknown to repository {name!r}", {"tag": tag}) from None


def _referrer_descriptor(info: ManifestInfo, digest: Digest, size: int) -> dict[str, object]:
    # spec.md "Listing Referrers": artifactType is the manifest's artifactType, or for an image manifest
    # without one, its config's mediaType; annotations are the manifest's.
    artifact_type = info.artifact_type
    if not artifact_type and info.media_type == OCI_MANIFEST and info.blobs:
        artifact_type = info.blobs[0].media_type
    desc: dict[str, object] = {"mediaType": info.media_type, "digest": str(digest), "size": size}
    if artifact_type:
        desc["artifactType"] = artifact_type
    if info.annotations:
        desc["annotations"] = info.annotations
    return desc
