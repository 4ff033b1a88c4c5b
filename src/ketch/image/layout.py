"""OCI image-layout directories (image-layout.md): ``oci-layout``, ``index.json``, ``blobs/<alg>/<hex>``.

Import copies every blob an image reaches into the store, each verified against its digest, and names the
image only once all its content is in (so an interrupted import leaves no name pointing at missing blobs).
Export writes the blobs first and ``index.json`` last, atomically.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from ketch._common.atomicio import write_atomic
from ketch._common.jsonio import dumps_compact
from ketch.image.blobs import read_verified
from ketch.image.content.local import LocalContentStore, write_blob
from ketch.image.content.protocol import ContentStore
from ketch.image.errors import ArchiveError, BlobNotFound, PlatformNotFound
from ketch.image.graph import walk
from ketch.image.platform import matches, select_manifest
from ketch.image.store import ImageStore
from ketch.spec.image import (
    ANNOTATION_REF_NAME,
    INDEX_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPES,
    MT_OCI_INDEX,
    Descriptor,
    ImageSpecError,
    Index,
    OciLayout,
    Platform,
    parse_json,
)
from ketch.spec.reference import InvalidReference, parse_reference

__all__ = [
    "ImportedImage",
    "LayoutContentStore",
    "copy_image",
    "export_layout",
    "import_index",
    "import_layout",
    "name_for",
    "read_layout",
]


_CONTAINERD_NAME = "io.containerd.image.name"


class LayoutContentStore(LocalContentStore):
    """A content store over an OCI layout's ``blobs/``; ingests go to a hidden ``.ingest`` beside them."""

    def __init__(self, path: str, *, durable: bool = True) -> None:
        super().__init__(path, ingest_dir=os.path.join(path, ".ingest"), durable=durable)

    def tidy(self) -> None:
        """Remove the ingest directory once no ingest is in progress (skopeo and others ignore it anyway)."""
        with contextlib.suppress(OSError):
            os.rmdir(self.ingest_dir)


def read_layout(path: str) -> Index:
    """Check ``oci-layout`` and parse ``index.json`` of the layout at ``path``."""
    try:
        with open(os.path.join(path, "oci-layout"), "rb") as f:
            OciLayout.from_json(parse_json(f.read(), "oci-layout"))
        with open(os.path.join(path, "index.json"), "rb") as f:
            return Index.from_json(parse_json(f.read(), "index.json"))
    except FileNotFoundError as e:
        raise ArchiveError(
            f"{path} is not an OCI layout: {os.path.basename(e.filename)} is missing"
        ) from None
    except ImageSpecError as e:
        raise ArchiveError(f"{path}: {e}") from None


def copy_image(
    src: ContentStore, dst: LocalContentStore, root: Descriptor, platform: Platform | None = None
) -> int:
    """Copy every blob reachable from ``root`` (children first, so a present parent implies its children);
    returns how many blobs were copied. An index entry whose manifest ``src`` lacks is skipped (exports of
    one platform of a multi-platform image); a manifest's config and layers must all be there.

    With ``platform``, an index keeps only the image manifests for that platform (and those whose entry names
    no platform): the index itself is copied whole, so the image keeps its digest, and the other platforms'
    manifests are left out as in a one-platform export (containerd's ``import --platform`` does the same).
    PlatformNotFound, listing what there is, if no manifest matches.
    """
    copied = 0

    def read(d: Descriptor) -> bytes:
        return read_verified(src, d)

    skip = None
    if platform is not None and root.media_type in INDEX_MEDIA_TYPES:
        select_manifest(read, root, platform)  # PlatformNotFound naming the platforms there are
        wanted = platform

        def skip(entry: Descriptor) -> bool:
            return (
                entry.media_type in MANIFEST_MEDIA_TYPES
                and entry.platform is not None
                and not matches(entry.platform, wanted)
            )

    descs = walk(read, root, partial_indexes=True, skip=skip)
    for desc in reversed(descs):
        if dst.has(desc.digest):
            continue
        try:
            with src.open(desc.digest) as f:
                write_blob(dst, f, desc.digest, desc.size)
        except BlobNotFound:
            raise BlobNotFound(
                f"image {root.digest} refers to blob {desc.digest} ({desc.media_type}), which is missing"
            ) from None
        copied += 1
    return copied


def name_for(desc: Descriptor, base: str | None) -> str | None:
    """The image name an index.json entry carries.

    image-layout.md lets ``org.opencontainers.image.ref.name`` be a full reference (``example.com/app:v1``)
    or just a tag (``v1``). A bare tag is joined to ``base`` (the name the user gave), else to containerd's
    ``io.containerd.image.name`` annotation when present (Docker's own exports carry it); else it is dropped.
    """
    annotations = desc.annotations or {}
    ref = annotations.get(ANNOTATION_REF_NAME)
    bare_tag = ref is not None and "/" not in ref and ":" not in ref
    if base is not None:
        try:
            b = parse_reference(base, default_tag=False)
        except InvalidReference as e:
            raise ArchiveError(str(e)) from None
        if b.tag is not None or b.digest is not None:
            return str(b)
        if ref and bare_tag:
            try:
                return str(b.with_tag(ref))
            except InvalidReference:
                pass
        return str(parse_reference(base))
    candidates = [annotations.get(_CONTAINERD_NAME)] if bare_tag or not ref else [ref]
    for c in candidates:
        if c:
            try:
                return str(parse_reference(c))
            except InvalidReference:
                return None
    return None


@dataclass(frozen=True)
class ImportedImage:
    name: str | None
    target: Descriptor
    blobs: int


def import_layout(
    store: ImageStore, path: str, name: str | None = None, platform: Platform | None = None
) -> list[ImportedImage]:
    """Import every image of the layout at ``path``; ``name`` names (or supplies the repository for) them.

    ``platform``: of a multi-platform image, import that platform's content only (see ``copy_image``).
    """
    index = read_layout(path)
    return import_index(
        store, index, LocalContentStore(path, ingest_dir=os.path.join(path, ".ingest")), name, path, platform
    )


def import_index(
    store: ImageStore,
    index: Index,
    src: ContentStore,
    name: str | None,
    where: str,
    platform: Platform | None = None,
) -> list[ImportedImage]:
    """Copy the images an ``index.json`` lists from ``src`` into ``store`` and name them."""
    imported = []
    for entry in index.manifests:
        if entry.media_type not in MANIFEST_MEDIA_TYPES | INDEX_MEDIA_TYPES:
            continue
        if platform is not None and entry.media_type in MANIFEST_MEDIA_TYPES:
            if entry.platform is not None and not matches(entry.platform, platform):
                continue  # a single-platform image of another platform, listed directly in index.json
        with store.lease():
            imported.append(_import_entry(store, src, entry, name, platform))
    if not imported:
        if platform is not None and index.manifests:
            raise PlatformNotFound(f"{where}: no image in index.json is for platform {platform}")
        raise ArchiveError(f"{where}: index.json lists no images")
    return imported


def _import_entry(
    store: ImageStore, src: ContentStore, entry: Descriptor, name: str | None, platform: Platform | None
) -> ImportedImage:
    n = copy_image(src, store.content, entry, platform)
    target = Descriptor(
        media_type=entry.media_type,
        digest=entry.digest,
        size=entry.size,
        platform=entry.platform,
        artifact_type=entry.artifact_type,
    )
    image_name = name_for(entry, name)
    if image_name is not None:
        store.put(image_name, target)
    return ImportedImage(image_name, target, n)


def export_layout(store: ImageStore, names: list[str], path: str, *, ref_names: str = "full") -> Index:
    """Write the images ``names`` as an OCI layout at ``path`` (created; must be absent or empty).

    ``ref_names``: ``"full"`` puts the whole reference in each entry's ref.name annotation (containerd and
    podman read that), ``"tag"`` only the tag (what skopeo's ``oci:DIR:TAG`` syntax addresses).
    """
    if os.path.exists(path) and os.listdir(path):
        raise ArchiveError(f"{path} exists and is not empty")
    os.makedirs(path, exist_ok=True)
    dst = LayoutContentStore(path, durable=store.durable)
    entries = []
    for n in names:
        record = store.resolve(n)
        copy_image(store.content, dst, record.target)
        ref = parse_reference(record.name)
        annotation = str(ref) if ref_names == "full" else (ref.tag or "latest")
        entries.append(
            Descriptor(
                media_type=record.target.media_type,
                digest=record.target.digest,
                size=record.target.size,
                platform=record.target.platform,
                annotations={ANNOTATION_REF_NAME: annotation},
            )
        )
    dst.tidy()
    index = Index(manifests=entries, media_type=MT_OCI_INDEX)
    write_atomic(
        os.path.join(path, "oci-layout"), dumps_compact(OciLayout().to_json()), durable=store.durable
    )
    write_atomic(os.path.join(path, "index.json"), dumps_compact(index.to_json()), durable=store.durable)
    return index
