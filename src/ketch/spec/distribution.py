"""Data models of the distribution protocol: media types, tag grammar and what a manifest refers to.

Pure functions over bytes and dicts, no I/O. The registry server uses :func:`parse_manifest` to validate a
pushed manifest and to learn which blobs, child manifests and subject it names (spec.md "Pushing Manifests",
image-spec manifest.md and image-index.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ketch._common.digest import Digest, InvalidDigest

__all__ = [
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "INDEX_MEDIA_TYPES",
    "MANIFEST_MEDIA_TYPES",
    "OCI_EMPTY",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Descriptor",
    "InvalidManifest",
    "ManifestInfo",
    "is_digest_reference",
    "parse_manifest",
    "validate_tag",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_MEDIA_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_MEDIA_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST, *INDEX_MEDIA_TYPES})

# spec.md "Pulling manifests": a tag is at most 128 characters of [a-zA-Z0-9_.-], not starting with . or -
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")


class InvalidManifest(ValueError):
    """A manifest body is not a valid manifest of the type it claims."""


def validate_tag(tag: str) -> str:
    if not _TAG.match(tag):
        raise InvalidManifest(
            f"invalid tag {tag!r}: use up to 128 of [a-zA-Z0-9_.-], not starting with '.' or '-'"
        )
    return tag


def is_digest_reference(reference: str) -> bool:
    """A manifest reference is a digest when it has a colon (tags cannot)."""
    return ":" in reference


@dataclass(frozen=True)
class Descriptor:
    """image-spec descriptor.md: the fields the registry acts on."""

    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    urls: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class ManifestInfo:
    """What a manifest refers to: its blobs (config and layers), child manifests, and subject."""

    media_type: str
    blobs: tuple[Descriptor, ...] = ()
    children: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise InvalidManifest(f"{where} is not a descriptor object")
    media_type = value.get("mediaType")
    digest = value.get("digest")
    size = value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise InvalidManifest(f"{where}.mediaType is missing or not a string")
    if not isinstance(digest, str):
        raise InvalidManifest(f"{where}.digest is missing or not a string")
    try:
        dg = Digest(digest)
    except InvalidDigest as e:
        raise InvalidManifest(f"{where}.digest: {e}") from None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidManifest(f"{where}.size must be a non-negative integer")
    artifact_type = value.get("artifactType")
    annotations = value.get("annotations")
    urls = value.get("urls") or ()
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise InvalidManifest(f"{where}.artifactType is not a string")
    if annotations is not None and not _is_str_map(annotations):
        raise InvalidManifest(f"{where}.annotations is not a map of strings")
    if not isinstance(urls, (list, tuple)) or not all(isinstance(u, str) for u in urls):
        raise InvalidManifest(f"{where}.urls is not a list of strings")
    return Descriptor(media_type, dg, size, artifact_type, annotations, tuple(urls))


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def parse_manifest(body: bytes, content_type: str | None) -> ManifestInfo:
    """Validate a manifest body and extract its references.

    ``content_type`` is the request's Content-Type (parameters stripped by the caller). When the body has a
    ``mediaType`` it must agree with it (image-spec manifest.md: mediaType "MUST" match when used). Bodies of
    media types the registry does not know are accepted as JSON objects with no references.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidManifest(f"manifest is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidManifest("manifest is not a JSON object")
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise InvalidManifest("manifest mediaType is not a string")
    media_type = content_type or body_type
    if not media_type:
        raise InvalidManifest("manifest has no mediaType and the request no Content-Type")
    if body_type and content_type and body_type != content_type:
        raise InvalidManifest(
            f"manifest mediaType {body_type!r} does not match Content-Type {content_type!r}"
        )
    annotations = doc.get("annotations") or {}
    if not _is_str_map(annotations):
        raise InvalidManifest("manifest annotations is not a map of strings")
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise InvalidManifest("manifest artifactType is not a string")
    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") is not None else None

    if media_type in INDEX_MEDIA_TYPES:
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise InvalidManifest("index has no manifests list")
        children = tuple(_descriptor(d, f"manifests[{i}]") for i, d in enumerate(items))
        return ManifestInfo(media_type, (), children, subject, artifact_type, annotations)
    if media_type in (OCI_MANIFEST, DOCKER_MANIFEST):
        if doc.get("schemaVersion") != 2:
            raise InvalidManifest("manifest schemaVersion must be 2")
        config = _descriptor(doc.get("config"), "config")
        layers_raw = doc.get("layers")
        if not isinstance(layers_raw, list):
            raise InvalidManifest("manifest has no layers list")
        layers = tuple(_descriptor(d, f"layers[{i}]") for i, d in enumerate(layers_raw))
        return ManifestInfo(media_type, (config, *layers), (), subject, artifact_type, annotations)
    return ManifestInfo(media_type, (), (), subject, artifact_type, annotations)
